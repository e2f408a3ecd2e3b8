#!/usr/bin/env bash
# Runs Redis 7.0.15's own scripting and functions tests (../shared/redis-tests)
# against luaproxy in front of a fresh redis-server whose scripting commands
# are switched off, and prints the runner's "N passed, M failed" line.
#
# Each unit gets its own fresh redis-server and luaproxy: a test that fails
# half-way can leave the server in a state that the next unit trips over
# (maxmemory 1 left by "allow-oom shebang flag" fails every functions test).
set -euo pipefail
bin=${1:-bin/luaproxy}
suite=${REDIS_SUITE:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/redis-tests/run.sh}
[ -x "$suite" ] || { echo "redis-suite: $suite not found (set REDIS_SUITE)" >&2; exit 2; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
total=0
for unit in ${REDIS_SUITE_UNITS:-unit/scripting unit/functions}; do
	dir=$(mktemp -d)
	rport=$(port); pport=$(port)
	args=(--port "$rport" --bind 127.0.0.1 --save '' --enable-debug-command yes --dir "$dir")
	for c in EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT FUNCTION FCALL FCALL_RO; do args+=(--rename-command "$c" ""); done
	redis-server "${args[@]}" >"$dir/redis.log" 2>&1 &
	rpid=$!
	# A script left spinning by a failed test (see README) is ended after
	# 20s so that it does not hold up the rest of the run.
	"$bin" --listen "127.0.0.1:$pport" --upstream "redis://127.0.0.1:$rport" --admin-listen "" --lua-time-limit 20s >"$dir/proxy.log" 2>&1 &
	ppid=$!
	pids+=("$rpid" "$ppid")
	for _ in $(seq 50); do redis-cli -p "$pport" ping >/dev/null 2>&1 && break; sleep 0.1; done
	out=$(REDIS_SUITE_UNITS=$unit "$suite" 127.0.0.1 "$pport" | tee /dev/stderr | tail -1) || true
	n=$(sed -n 's/^redis-suite: \([0-9]*\) passed.*/\1/p' <<<"$out")
	total=$((total + ${n:-0}))
	kill "$ppid" "$rpid" 2>/dev/null || true
	wait "$ppid" "$rpid" 2>/dev/null || true
done
base=$(wc -l <"$(dirname "$suite")/baseline-7.0.15.names")
echo "redis-suite: $total passed, $((base - total)) failed (each unit on a fresh upstream)"
