#!/usr/bin/env bash
# Joins per second through HTTP on one waitroom process and one Redis, all
# on this machine, then redis-benchmark -t zadd against the same Redis right
# after, so the ratio to raw Redis shows.
#   VISITORS=100000 CONC=200 scripts/load/joins.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build waitroom loadgen || exit 1
cd "$work"
port=6395
start_waitroom $port 8092
redis-cli -p $port config resetstat >/dev/null
./loadgen -url http://127.0.0.1:8092 -room joins -visitors "${VISITORS:-100000}" -concurrency "${CONC:-200}" -sockets=false \
	-admin-token loadtoken -room-config '{"mode":"queue_all","capacity":0,"batch_size":100,"interval_ms":1000,"abandon_after_s":0,"paused":true}' \
	-hold 1s -duration 3m -server-pid $W 2>&1 | grep -E '^(joins|errors|server|loadgen |result)'
echo "redis: $(redis-cli -p $port info commandstats | grep -E 'cmdstat_evalsha' | cut -d, -f1-3)"
kill $W; wait $W 2>/dev/null
echo "--- redis-benchmark -t zadd against the same Redis, right after:"
redis-benchmark -p $port -t zadd -n 200000 -c 50 -q 2>/dev/null | tr '\r' '\n' | tail -1
redis-cli -p $port shutdown nosave >/dev/null 2>&1
uptime
