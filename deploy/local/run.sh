#!/usr/bin/env bash
# Runs luaproxy on 127.0.0.1:6380 in front of a Redis on 127.0.0.1:6379.
# If nothing answers on 6379, it starts a redis-server there with every
# scripting command switched off, as a Lua-restricted managed Redis has it,
# and stops it again when luaproxy exits.
set -euo pipefail
bin=${1:-bin/luaproxy}
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/need-redis.sh"

redis_port=${REDIS_PORT:-6379}
started=""
if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  dir=$(mktemp -d)
  args=(--port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log")
  for c in EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT FUNCTION FCALL FCALL_RO; do
    args+=(--rename-command "$c" "")
  done
  redis-server "${args[@]}"
  started="$dir"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "started redis-server on 127.0.0.1:$redis_port (scripting commands disabled), logs in $dir" >&2
fi
stop() { [ -n "$started" ] && kill "$(cat "$started/redis.pid")" 2>/dev/null || true; }
trap stop EXIT

echo "luaproxy on 127.0.0.1:6380 -> redis://127.0.0.1:$redis_port; try: redis-cli -p 6380 EVAL \"return redis.call('PING')\" 0" >&2
"$bin" --listen 127.0.0.1:6380 --upstream "redis://127.0.0.1:$redis_port" --admin-listen 127.0.0.1:9180 \
  --log-format console "${@:2}"
