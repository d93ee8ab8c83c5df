#!/usr/bin/env bash
# 100 000 waiting sockets on this machine (issue 13): one process may hold at
# most 20 000 descriptors here, so PROCS waitroom processes share one Redis
# (one port each) and PROCS loadgen processes, one per waitroom, connect from
# source addresses of their own (127.0.0.2, 127.0.0.3, …; two each at
# 17 000 sockets). One admitter ticks
# the room every INTERVAL_MS. Bounded: VISITORS sockets, HOLD after the last
# join, -duration 6m at most; everything stops by itself.
#   PROCS=6 VISITORS=100000 HOLD=60s INTERVAL_MS=15000 scripts/load/sockets-many.sh
# WAITROOM_BIN runs that waitroom binary instead of building this tree's.
# Twelve Go processes share two cores here: each runs with GOMAXPROCS=1
# (EACH_PROCS), so that idle Ps do not spin for work the others need.
# The summary merges the loadgens' waves per tick, timed from the tick's own
# time in Redis (the "n" of its event, read by a redis-cli subscriber): per
# tick, every process's p50 and p99 (from its messages' times) and the last
# socket of all; the sum of the servers' RSS; CPU per position update;
# exactness and admission order as each loadgen checks them.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
procs=${PROCS:-6}
visitors=${VISITORS:-100000}
per=$(( (visitors + procs - 1) / procs ))
ulimit -n "$(ulimit -Hn)"
echo "RLIMIT_NOFILE $(ulimit -n); $procs processes × $per sockets"
bin="${WAITROOM_BIN:-}"
if [ -z "$bin" ]; then
	build waitroom && bin="$work/waitroom"
fi
build admitter loadgen || exit 1
cd "$work"
port=${REDIS_PORT:-6393}
start_redis $port "$work" --maxclients 2000
redis-cli -p $port flushall >/dev/null
load_env
export REDIS_URL=redis://127.0.0.1:$port/0
pids=()
export GOMAXPROCS=${EACH_PROCS:-1}
for i in $(seq $procs); do
	"$bin" -addr 127.0.0.1:$((8200 + i)) -join-rate 0 -log-level warn > waitroom$i.out 2> waitroom$i.err &
	pids+=($!)
done
ADMITTER_METRICS_ADDR= ./admitter -log-level warn > admitter.out 2>&1 &
APID=$!
# The room's events, for the ticks' times.
timeout 8m redis-cli -p $port subscribe 'wr:{load}:events' > events.log 2>/dev/null &
SUB=$!
(while kill -0 ${pids[0]} 2>/dev/null; do
	line="$(date +%s.%N)"
	for p in "${pids[@]}"; do line="$line $(cut -d' ' -f14,15 /proc/$p/stat 2>/dev/null | tr ' ' +) $(awk '/^VmRSS/{print $2}' /proc/$p/status 2>/dev/null)"; done
	echo "$line"
	sleep 1
done) > cpu.log 2>/dev/null &
sleep 1
cfg="{\"mode\":\"queue_all\",\"capacity\":0,\"batch_size\":100,\"interval_ms\":${INTERVAL_MS:-5000},\"abandon_after_s\":0}"
# Source addresses per loadgen: each takes at most 40 % of an address's
# ports (see autoSourceIPs in cmd/loadgen), or connects slow to a crawl.
srcs=$(( (per * 10 + 28232 * 4 - 1) / (28232 * 4) ))
lpids=()
for i in $(seq $procs); do
	./loadgen -url http://127.0.0.1:$((8200 + i)) -room load -visitors $per -concurrency ${CONC:-32} \
		-source-ips $srcs -source-ip-first $((2 + (i - 1) * srcs)) -admin-token loadtoken -room-config "$cfg" \
		-hold "${HOLD:-40s}" -duration 6m -server-pid ${pids[$((i - 1))]} -progress 15s \
		-json "$work/result$i.json" > loadgen$i.out 2>&1 &
	lpids+=($!)
done
rc=0
for p in "${lpids[@]}"; do wait $p || rc=1; done
kill "${pids[@]}" $APID $SUB 2>/dev/null; sleep 1
redis-cli -p $port shutdown nosave >/dev/null 2>&1
for i in $(seq $procs); do grep -E '^(result|errors)' loadgen$i.out | sed "s/^/loadgen $i: /"; done
python3 "$repo/scripts/load/sockets-many.py" "$work" "$procs" "$(getconf CLK_TCK)"
echo "logs, results and events in $work"
exit $rc
