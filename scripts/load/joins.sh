#!/usr/bin/env bash
# Joins per second through HTTP on one waitroom process and one Redis, all
# on this machine, then redis-benchmark -t zadd against the same Redis right
# after, so the ratio to raw Redis shows.
#   VISITORS=100000 CONC=200 scripts/load/joins.sh
set -u
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
go build -o "$work/waitroom" "$repo/cmd/waitroom"
go build -o "$work/loadgen" "$repo/cmd/loadgen"
cd "$work"
port=6395
redis-server --port $port --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --logfile "$work/redis.log" --dir "$work"
sleep 0.5
openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null
# The load generator is one client address (or a few): per-address limits off.
export WAITROOM_JOIN_RATE=0 WAITROOM_STATUS_RATE=0 WAITROOM_SOCKET_RATE=0 WAITROOM_SOCKETS_PER_ADDR=0
export REDIS_URL=redis://127.0.0.1:$port/0 WAITROOM_ADMIN_TOKEN=loadtoken WAITROOM_SIGNING_KEY="$work/key.pem"
./waitroom -addr 127.0.0.1:8092 -join-rate 0 -log-level warn -shutdown-grace 0s > waitroom.out 2> waitroom.err &
W=$!
sleep 1
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
