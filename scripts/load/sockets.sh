#!/usr/bin/env bash
# Waiting sockets held by one waitroom process (issue 3's target), with one
# Redis and one admitter on the in-process pacer, all on this machine.
#   VISITORS=19500 HOLD=30s scripts/load/sockets.sh
# Each process needs a file descriptor per socket: raise RLIMIT_NOFILE
# (ulimit -n) above VISITORS first; the script tries and says if it cannot.
set -u
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
ulimit -n "${NOFILE:-400000}" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "RLIMIT_NOFILE $(ulimit -n)"
go build -o "$work/waitroom" "$repo/cmd/waitroom"
go build -o "$work/admitter" "$repo/cmd/admitter"
go build -o "$work/loadgen" "$repo/cmd/loadgen"
cd "$work"
redis-server --port 6391 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --logfile "$work/redis.log" --dir "$work"
sleep 0.5
redis-cli -p 6391 flushall >/dev/null
test -f key.pem || openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null
# The load generator is one client address (or a few): per-address limits off.
export WAITROOM_JOIN_RATE=0 WAITROOM_STATUS_RATE=0 WAITROOM_SOCKET_RATE=0 WAITROOM_SOCKETS_PER_ADDR=0
export REDIS_URL=redis://127.0.0.1:6391/0 WAITROOM_ADMIN_TOKEN=loadtoken WAITROOM_SIGNING_KEY="$work/key.pem"
./waitroom -addr 127.0.0.1:8088 -join-rate 0 -log-level warn ${PPROF:+-pprof-addr 127.0.0.1:6060} > waitroom.out 2> waitroom.err &
WPID=$!
ADMITTER_METRICS_ADDR=off ./admitter -log-level warn > admitter.out 2>&1 &
APID=$!
sleep 1
./loadgen -url http://127.0.0.1:8088 -room load -visitors "${VISITORS:-100000}" -concurrency 128 \
  -admin-token loadtoken -room-config '{"mode":"queue_all","capacity":0,"batch_size":100,"interval_ms":2000,"abandon_after_s":0}' \
  -hold "${HOLD:-30s}" -duration 8m -server-pid $WPID -json "$work/result.json"
RC=$?
kill $WPID $APID; sleep 1
redis-cli -p 6391 shutdown nosave >/dev/null 2>&1
echo "logs and result.json in $work"
exit $RC
