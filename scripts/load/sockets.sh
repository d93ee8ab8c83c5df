#!/usr/bin/env bash
# Waiting sockets held by one waitroom process (issues 3 and 13), with one
# Redis and one admitter, all on this machine; bounded in sockets and time.
#   VISITORS=19000 HOLD=30s scripts/load/sockets.sh
# WAITROOM_BIN runs that waitroom binary instead of building this tree's
# (scripts/load/sockets-ab.sh runs main's and this tree's back to back).
# Besides loadgen's summary it prints the server's CPU per position update:
# CPU time (/proc/PID/stat utime+stime, sampled every 0.5 s) over the span of
# the waves that reached every socket, divided by their position messages.
# Each process needs a file descriptor per socket: RLIMIT_NOFILE (ulimit -n)
# must exceed VISITORS; the script raises it to the hard limit.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ulimit -n "${NOFILE:-400000}" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "RLIMIT_NOFILE $(ulimit -n)"
bin="${WAITROOM_BIN:-}"
if [ -z "$bin" ]; then
	build waitroom && bin="$work/waitroom"
fi
build admitter loadgen
cd "$work"
port=${REDIS_PORT:-6391}
start_redis $port "$work"
redis-cli -p $port flushall >/dev/null
load_env
export REDIS_URL=redis://127.0.0.1:$port/0
"$bin" -addr 127.0.0.1:8088 -join-rate 0 -log-level warn ${PPROF:+-pprof-addr 127.0.0.1:6060} > waitroom.out 2> waitroom.err &
WPID=$!
ADMITTER_METRICS_ADDR=off ./admitter -log-level warn > admitter.out 2>&1 &
APID=$!
# CPU ticks and RSS of the server, every 0.5 s.
(while kill -0 $WPID 2>/dev/null; do
	echo "$(date +%s.%N) $(cut -d' ' -f14,15 /proc/$WPID/stat) $(awk '/^VmRSS/{print $2}' /proc/$WPID/status)"
	sleep 0.5
done) > cpu.log 2>/dev/null &
sleep 1
./loadgen -url http://127.0.0.1:8088 -room load -visitors "${VISITORS:-19000}" -concurrency 128 \
	-admin-token loadtoken -room-config "{\"mode\":\"queue_all\",\"capacity\":0,\"batch_size\":100,\"interval_ms\":${INTERVAL_MS:-2000},\"abandon_after_s\":0}" \
	-hold "${HOLD:-30s}" -duration 8m -server-pid $WPID -json "$work/result.json"
RC=$?
kill $WPID $APID; sleep 1
redis-cli -p $port shutdown nosave >/dev/null 2>&1
python3 - "$work/result.json" "$work/cpu.log" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); hz = float(sys.argv[3])
cpu = [(float(t), (int(u) + int(s)) / hz, int(m)) for t, u, s, m in (l.split() for l in open(sys.argv[2]) if len(l.split()) == 4)]
waves = r["ticks"]["waves_list"]
size = max([w["positions"] + w["admissions"] for w in waves] or [0])
full = [w for w in waves if w["positions"] + w["admissions"] >= 0.9 * size]
if len(full) < 2 or len(cpu) < 2:
    sys.exit(print("cpu per update: not enough full waves"))
t0, t1 = full[0]["start_unix_ms"] / 1000 - 0.25, full[-1]["last_unix_ms"] / 1000 + 0.25
inside = [c for c in cpu if t0 <= c[0] <= t1]
a, b = inside[0], inside[-1]
msgs = sum(w["positions"] + w["admissions"] for w in waves if a[0] * 1000 <= w["start_unix_ms"] and w["last_unix_ms"] <= b[0] * 1000)
print(f"cpu per update: {(b[1] - a[1]) / max(msgs, 1) * 1e6:.2f} µs ({b[1] - a[1]:.2f} s of server CPU over {b[0] - a[0]:.1f} s, {msgs} messages of the waves in that span; {len(full)} waves reached ≥ 90 % of the sockets)")
held = r["sockets_stats"]["peak_held"]; base = cpu[0][2]
rss = max(c[2] for c in inside)
print(f"server rss while holding {held} sockets: {rss / 1024:.1f} MiB, {rss / held:.2f} KiB per socket; {(rss - base) / held:.2f} KiB above the process at start ({base / 1024:.1f} MiB)")
PY
echo "logs and result.json in $work"
exit $RC
