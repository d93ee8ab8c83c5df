#!/usr/bin/env bash
# A/B of joins per second through HTTP: this tree's cmd/waitroom against
# another build (MAIN_BIN, e.g. main's), one after the other in the same
# run, each on its own fresh redis-server, with cmd/admitter running, a room
# in queue_all, per-address limits off. wrk sends new visitors (no cookies),
# then GET /healthz of the same process (the HTTP floor). CPU per process is
# read from /proc/<pid>/stat before and after each wrk run.
#   MAIN_BIN=/tmp/joins-main-bin/waitroom ROUNDS=2 DUR=10s CONC=50 scripts/load/joins_ab.sh
# PPROF_DIR=dir also takes an 8 s CPU profile of each server during its joins
# (dir/<label><round>-joins.prof) and keeps Redis's INFO commandstats
# (dir/<label><round>-cmdstats.txt).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build waitroom admitter || exit 1
cd "$work"
load_env
cat > join.lua <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
EOF
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
port=6397

# measure NAME PATH-OR-URL-SUFFIX WRK-ARGS...: prints rate, latency, CPU per request.
measure() {
	local name=$1 url=$2; shift 2
	local w0 r0 w1 r1 out n
	w0=$(cpu $W); r0=$(cpu $R)
	local prof=""
	if [ -n "${PPROF_DIR:-}" ]; then
		curl -s -o "$PPROF_DIR/$name.prof" "http://127.0.0.1:6062/debug/pprof/profile?seconds=8" &
		prof=$!
	fi
	out=$(wrk -t2 -c"${CONC:-50}" -d"${DUR:-10s}" --latency "$@" "$url")
	w1=$(cpu $W); r1=$(cpu $R)
	[ -n "$prof" ] && wait $prof
	n=$(echo "$out" | awk '/requests in/{print $1}')
	local rps p99 non2xx
	rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
	p99=$(echo "$out" | awk '$1=="99%"{print $2}')
	non2xx=$(echo "$out" | awk '/Non-2xx/{print $5}')
	awk -v name="$name" -v n="$n" -v rps="$rps" -v p99="$p99" -v bad="${non2xx:-0}" -v hz="$hz" \
		-v w="$((w1 - w0))" -v r="$((r1 - r0))" 'BEGIN{
		printf "%-28s %9s req/s  p99 %-8s server %6.1f us/req  redis %6.1f us/req  (n=%d, non-2xx %s)\n",
			name, rps, p99, w*1e6/hz/n, r*1e6/hz/n, n, bad}'
}

run() {
	local label=$1 bin=$2
	local dir="$work/$label"
	mkdir -p "$dir"
	start_redis $port "$dir"
	R=$(cat "$dir/redis.pid")
	export REDIS_URL=redis://127.0.0.1:$port/0
	local pp=()
	[ -n "${PPROF_DIR:-}" ] && pp=(-pprof-addr 127.0.0.1:6062)
	"$bin" -addr 127.0.0.1:8093 -log-level warn -shutdown-grace 0s "${pp[@]}" >"$dir/w.out" 2>"$dir/w.err" &
	W=$!
	"$work/admitter" >"$dir/a.out" 2>"$dir/a.err" &
	A=$!
	sleep 1
	curl -fsS -X PUT -H 'Authorization: Bearer loadtoken' -H 'Content-Type: application/json' \
		-d '{"mode":"queue_all","capacity":0,"batch_size":100,"interval_ms":1000,"abandon_after_s":0}' \
		http://127.0.0.1:8093/api/admin/rooms/load >/dev/null
	measure "$label$round-joins" http://127.0.0.1:8093/api/rooms/load/tickets -s join.lua
	echo "$label redis: $(redis-cli -p $port info commandstats | grep -E 'cmdstat_(evalsha|eval|fcall)' | cut -d, -f1-3 | tr '\n' ' ')"
	[ -n "${PPROF_DIR:-}" ] && redis-cli -p $port info commandstats >"$PPROF_DIR/$label$round-cmdstats.txt"
	measure "$label$round-healthz" http://127.0.0.1:8093/healthz
	kill $W $A; wait $W $A 2>/dev/null
	redis-cli -p $port shutdown nosave >/dev/null 2>&1
	sleep 0.5
}

uptime
for round in $(seq "${ROUNDS:-1}"); do
	run "main" "${MAIN_BIN:?set MAIN_BIN to the build of main}"
	run "branch" "$work/waitroom"
done
uptime
