# Sourced by the scripts of scripts/load: the steps every run starts with.
# Sets $repo (this tree) and $work (a fresh directory for the run).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"

# PIN_REDIS=CPU and PIN_REST=CPU (either or both) run redis-server, and the
# server, admitter and wrk, on those CPUs (taskset -c): to see what Redis
# costs on a CPU that nothing else wakes or shares.
pin_redis=() pin_rest=()
[ -n "${PIN_REDIS:-}" ] && pin_redis=(taskset -c "$PIN_REDIS")
[ -n "${PIN_REST:-}" ] && pin_rest=(taskset -c "$PIN_REST")

# build NAME...: builds this tree's cmd/NAME into $work/NAME.
build() {
	local name
	for name in "$@"; do
		go build -o "$work/$name" "$repo/cmd/$name" || return 1
	done
}

# start_redis PORT DIR [ARG...]: a redis-server without persistence on
# 127.0.0.1:PORT (more redis-server ARGs after DIR), with its log, pid file
# and files in DIR, given half a second to listen.
start_redis() {
	local port=$1 dir=$2
	shift 2
	"${pin_redis[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
		--logfile "$dir/redis.log" --dir "$dir" --pidfile "$dir/redis.pid" "$@"
	sleep 0.5
}

# load_env: a signing key in $work/key.pem and the environment of a waitroom
# under load. The load generator is one client address (or a few), so the
# per-address limits are off; the operator token is loadtoken.
load_env() {
	openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
	export WAITROOM_JOIN_RATE=0 WAITROOM_STATUS_RATE=0 WAITROOM_SOCKET_RATE=0 WAITROOM_SOCKETS_PER_ADDR=0
	export WAITROOM_ADMIN_TOKEN=loadtoken WAITROOM_SIGNING_KEY="$work/key.pem"
}

# start_waitroom REDIS_PORT HTTP_PORT: load_env, a redis-server on
# REDIS_PORT and the waitroom that build put in $work on
# 127.0.0.1:HTTP_PORT (its output in $work/waitroom.out and .err), given a
# second to start; its pid is in W.
start_waitroom() {
	start_redis "$1" "$work"
	load_env
	export REDIS_URL=redis://127.0.0.1:$1/0
	"${pin_rest[@]}" "$work/waitroom" -addr "127.0.0.1:$2" -join-rate 0 -log-level warn -shutdown-grace 0s \
		>"$work/waitroom.out" 2>"$work/waitroom.err" &
	W=$!
	sleep 1
}

hz=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
# cpu_sys PID: the part of cpu that ran in the kernel (stime).
cpu_sys() { awk '{print $15}' "/proc/$1/stat"; }
# measure NAME URL WRK-ARGS...: one wrk run (CONC connections for DUR),
# printing its rate, p99 and the CPU per request of the server (pid W) and
# of Redis (pid R), read from /proc/<pid>/stat before and after; with
# PPROF_DIR, an 8 s CPU profile of the server (pprof on 127.0.0.1:6062)
# into PPROF_DIR/NAME.prof and, where perf is installed, one of redis-server
# into PPROF_DIR/NAME.redis.perf (`perf report -i … --no-children --sort
# dso,sym -g none`). Redis's share of its CPU in the kernel is printed too.
measure() {
	local name=$1 url=$2; shift 2
	local w0 r0 w1 r1 rs0 rs1 out n
	w0=$(cpu $W); r0=$(cpu $R); rs0=$(cpu_sys $R)
	local prof="" rprof=""
	if [ -n "${PPROF_DIR:-}" ]; then
		curl -s -o "$PPROF_DIR/$name.prof" "http://127.0.0.1:6062/debug/pprof/profile?seconds=8" &
		prof=$!
		if command -v perf >/dev/null; then
			perf record -q -F 2000 -g -o "$PPROF_DIR/$name.redis.perf" -p "$R" -- sleep 8 >/dev/null 2>&1 &
			rprof=$!
		fi
	fi
	out=$("${pin_rest[@]}" wrk -t2 -c"${CONC:-50}" -d"${DUR:-10s}" --latency "$@" "$url")
	w1=$(cpu $W); r1=$(cpu $R); rs1=$(cpu_sys $R)
	[ -n "$prof" ] && wait $prof
	[ -n "$rprof" ] && wait $rprof
	n=$(echo "$out" | awk '/requests in/{print $1}')
	local rps p99 non2xx
	rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
	p99=$(echo "$out" | awk '$1=="99%"{print $2}')
	non2xx=$(echo "$out" | awk '/Non-2xx/{print $5}')
	awk -v name="$name" -v n="$n" -v rps="$rps" -v p99="$p99" -v bad="${non2xx:-0}" -v hz="$hz" \
		-v w="$((w1 - w0))" -v r="$((r1 - r0))" -v rs="$((rs1 - rs0))" 'BEGIN{
		printf "%-28s %9s req/s  p99 %-8s server %6.1f us/req  redis %6.1f us/req (%d%% in the kernel)  (n=%d, non-2xx %s)\n",
			name, rps, p99, w*1e6/hz/n, r*1e6/hz/n, (r > 0 ? 100*rs/r : 0), n, bad}'
}

# ab_start LABEL BIN HTTP_PORT [SERVER ARG...]: for one side of an A/B run, a
# fresh redis-server on $port with its files in $work/LABEL (pid R), the
# build BIN on 127.0.0.1:HTTP_PORT (pid W), cmd/admitter (pid A; for the
# side labelled main, MAIN_ADMITTER if set: an older tree's, whose scripts
# match its waitroom's), and the
# room "load" in queue_all (100 admitted a second, nobody abandoned).
ab_start() {
	local label=$1 bin=$2 http=$3
	shift 3
	local dir="$work/$label"
	mkdir -p "$dir"
	start_redis "$port" "$dir"
	R=$(cat "$dir/redis.pid")
	export REDIS_URL=redis://127.0.0.1:$port/0
	"${pin_rest[@]}" "$bin" -addr "127.0.0.1:$http" -log-level warn -shutdown-grace 0s "$@" >"$dir/w.out" 2>"$dir/w.err" &
	W=$!
	local adm="$work/admitter"
	[ "$label" = main ] && [ -n "${MAIN_ADMITTER:-}" ] && adm=$MAIN_ADMITTER
	"${pin_rest[@]}" "$adm" >"$dir/a.out" 2>"$dir/a.err" &
	A=$!
	sleep 1
	curl -fsS -X PUT -H 'Authorization: Bearer loadtoken' -H 'Content-Type: application/json' \
		-d '{"mode":"queue_all","capacity":0,"batch_size":100,"interval_ms":1000,"abandon_after_s":0}' \
		"http://127.0.0.1:$http/api/admin/rooms/load" >/dev/null
}

# ab_stop: ends what ab_start started.
ab_stop() {
	kill $W $A
	wait $W $A 2>/dev/null
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
	sleep 0.5
}

# ab_rounds: ROUNDS times `run main MAIN_BIN`, then `run branch` with this
# tree's build, the load average before and after.
ab_rounds() {
	uptime
	for round in $(seq "${ROUNDS:-1}"); do
		run "main" "${MAIN_BIN:?set MAIN_BIN to the build of main}"
		run "branch" "$work/waitroom"
	done
	uptime
}

# ab_setup PORT: builds this tree's waitroom and admitter, enters $work with
# load_env's environment, Redis's port PORT, and join.lua there: a wrk script
# of joins (new visitors, no cookies).
ab_setup() {
	build waitroom admitter || exit 1
	cd "$work" || exit 1
	load_env
	port=$1
	printf '%s\n' 'wrk.method = "POST"' 'wrk.headers["Content-Type"] = "application/json"' >join.lua
}
