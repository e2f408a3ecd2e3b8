package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// keyspace is redis-benchmark's -r: each __rand_int__ in a command becomes
// a zero-padded number below it, so keys are spread over this many values.
const keyspace = 1000

// script is one Lua program of the benchmark. Its body reads KEYS and ARGV,
// so that the same text runs under EVAL and, as a function whose parameters
// are named KEYS and ARGV, under FCALL.
type script struct {
	name string   // short name used in workload names and as the function name
	body string   // Lua source
	key  string   // key pattern; __rand_int__ is replaced by redis-benchmark
	argv []string // ARGV
}

// scripts are the three programs of issue 6: one redis.call, a 4-call
// token bucket and a CPU-heavy cjson round trip of a ~2 KB document.
var scripts = []script{
	{
		name: "get",
		body: `return redis.call('GET', KEYS[1])`,
		key:  "k:__rand_int__",
	},
	{
		// The classic rate limiter: refill by elapsed time up to the
		// capacity, take one token if there is one, write the bucket
		// back and let idle buckets expire once they would be full.
		name: "bucket",
		body: `local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or capacity
local ts = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000))
return allowed`,
		key:  "bucket:__rand_int__",
		argv: []string{"100", "50"},
	},
	{
		// Read-modify-write of a JSON document: the script's own CPU
		// (decode and encode) dwarfs its two redis.calls.
		name: "cjson",
		body: `local doc = cjson.decode(redis.call('GET', KEYS[1]))
doc.visits = (doc.visits or 0) + 1
doc.updated_at = ARGV[1]
local out = cjson.encode(doc)
redis.call('SET', KEYS[1], out)
return #out`,
		key:  "doc:__rand_int__",
		argv: []string{"2026-11-25T21:00:00Z"},
	},
}

// libraryName is the name of the function library holding every script.
const libraryName = "luaproxybench"

// library returns the source of a function library that registers every
// script under its name.
func library() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!lua name=%s\n", libraryName)
	for _, s := range scripts {
		fmt.Fprintf(&b, "redis.register_function('%s', function(KEYS, ARGV)\n%s\nend)\n", s.name, s.body)
	}
	return b.String()
}

// workload is one benchmarked command: a script called by EVALSHA or FCALL.
type workload struct {
	Name      string `json:"name"` // e.g. "evalsha-get"
	Call      string `json:"call"` // "evalsha" or "fcall"
	script    script
	forwarder bool // also measured through the no-op forwarder
}

// workloads lists EVALSHA of every script, then FCALL of every script. The
// forwarder, a reference for the cost of any extra hop, is measured on the
// 1-call and token-bucket scripts only, as in the issue.
func workloads() []workload {
	var ws []workload
	for _, call := range []string{"evalsha", "fcall"} {
		for _, s := range scripts {
			ws = append(ws, workload{
				Name: call + "-" + s.name, Call: call, script: s,
				forwarder: s.name != "cjson",
			})
		}
	}
	return ws
}

// command returns the redis-benchmark command for w; sha is the script's
// SHA1 for EVALSHA.
func (w workload) command(sha string) []string {
	var cmd []string
	if w.Call == "evalsha" {
		cmd = []string{"EVALSHA", sha}
	} else {
		cmd = []string{"FCALL", w.script.name}
	}
	cmd = append(cmd, "1", w.script.key)
	return append(cmd, w.script.argv...)
}

// randKey is the key redis-benchmark makes of pattern for the number i.
func randKey(pattern string, i int) string {
	return strings.ReplaceAll(pattern, "__rand_int__", fmt.Sprintf("%012d", i))
}

// document returns the JSON document the cjson script rewrites: a shop
// order of about 2 KB with nested objects, arrays, strings, integers,
// floats and booleans, as a realistic service would cache.
func document() string {
	type line struct {
		SKU      string   `json:"sku"`
		Name     string   `json:"name"`
		Qty      int      `json:"qty"`
		Price    float64  `json:"price"`
		Tags     []string `json:"tags"`
		Shipping bool     `json:"shipping"`
	}
	doc := map[string]any{
		"id":     "ord-7f3a9c21",
		"visits": 0,
		"customer": map[string]any{
			"id": 48213, "name": "Ada Lovelace", "email": "ada@example.com",
			"address": map[string]any{"street": "12 Analytical Row", "city": "London", "zip": "N1 9GU", "country": "GB"},
		},
		"currency": "EUR",
		"status":   "open",
		"notes":    "leave at the door; ring twice",
	}
	var lines []line
	for i := 0; ; i++ {
		lines = append(lines, line{
			SKU: fmt.Sprintf("SKU-%05d", 1000+i*37), Name: fmt.Sprintf("Widget model %c%d", 'A'+i%26, i),
			Qty: 1 + i%4, Price: float64(199+i*125) / 100, Tags: []string{"hardware", "blue", fmt.Sprintf("batch-%d", i%7)},
			Shipping: i%2 == 0,
		})
		doc["lines"] = lines
		b, err := json.Marshal(doc)
		if err != nil {
			panic(err) // only fixed values above: cannot happen
		}
		if len(b) >= 2000 {
			return string(b)
		}
	}
}
