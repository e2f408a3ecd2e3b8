#!lua name=ratelimit

-- ratelimit_take(KEYS[1] = bucket, ARGV[1] = capacity, ARGV[2] = refill
-- per second, ARGV[3] = now in milliseconds): a token bucket. Returns 1
-- and takes a token if one is left, else 0.
local function take(keys, args)
  local capacity = tonumber(args[1])
  local rate = tonumber(args[2])
  local now = tonumber(args[3])
  local state = redis.call('HMGET', keys[1], 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
  local ok = 0
  if tokens >= 1 then
    tokens = tokens - 1
    ok = 1
  end
  redis.call('HSET', keys[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', keys[1], math.ceil(capacity / rate * 1000))
  return ok
end

redis.register_function('ratelimit_take', take)
