#!/usr/bin/env bash
# The gateway's cost per proxied request of an admitted visitor: wrk against
# a small upstream (nginx answering a 1 KiB body) directly, then the same
# through waitroom in gateway mode, and the CPU the gateway process spent per
# request (from /proc/<pid>/stat). With MAIN_BIN (another build, e.g.
# main's) both builds run side by side on the same Redis and upstream and
# are measured in turn, ROUNDS times, in the same run. With PROFILE=dir a
# 10 s CPU profile of each build under the admitted load is written there,
# and its allocation profile before and after that load (the difference,
# divided by the requests, is what a request allocates).
#   MAIN_BIN=/tmp/x-main-bin/waitroom ROUNDS=2 DURATION=10s CONNS=8 scripts/load/gateway.sh
set -eu
trap 'echo "gateway.sh: failed at line $LINENO" >&2' ERR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
duration="${DURATION:-15s}"
conns="${CONNS:-8}"
rounds="${ROUNDS:-1}"
build waitroom
cd "$work"
rport=6396 uport=18090
start_redis $rport "$work"
mkdir -p ng
head -c 1024 /dev/zero | tr '\0' 'x' > ng/body
cat > ng/nginx.conf <<NGINX
daemon off; master_process off; worker_processes 1; pid $work/ng/nginx.pid; error_log $work/ng/error.log warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work/ng; proxy_temp_path $work/ng; fastcgi_temp_path $work/ng; uwsgi_temp_path $work/ng; scgi_temp_path $work/ng;
  server { listen 127.0.0.1:$uport; root $work/ng; location / { try_files /body =404; default_type text/plain; } } }
NGINX
/usr/sbin/nginx -p "$work/ng" -e "$work/ng/error.log" -c "$work/ng/nginx.conf" &
N=$!
openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null
export WAITROOM_STATUS_RATE=0 WAITROOM_JOIN_RATE=0
pids="$N"
trap 'kill $pids 2>/dev/null; redis-cli -p $rport shutdown nosave >/dev/null 2>&1 || true' EXIT

# start LABEL BIN GPORT APORT PPORT: one gateway process; sets pid_LABEL.
start() {
	REDIS_URL=redis://127.0.0.1:$rport/0 WAITROOM_ADMIN_TOKEN=benchtoken WAITROOM_SIGNING_KEY="$work/key.pem" \
		WAITROOM_UPSTREAM=http://127.0.0.1:$uport WAITROOM_ADMIN_ADDR=127.0.0.1:$4 WAITROOM_PPROF_ADDR=127.0.0.1:$5 \
		"$2" -addr 127.0.0.1:$3 -log-level warn -shutdown-grace 0s > "$work/$1.out" 2> "$work/$1.err" &
	eval "pid_$1=$!"
	pids="$pids $!"
}
labels="branch"
start branch "$work/waitroom" 18091 18092 18093
if [ -n "${MAIN_BIN:-}" ]; then
	labels="main branch"
	start main "$MAIN_BIN" 18094 18095 18096
fi
sleep 1.5
curl -sf -X PUT -H "Authorization: Bearer benchtoken" -H 'Content-Type: application/json' -d '{"mode":"auto","capacity":0,"routes":["/shop/"],"session_ttl_s":3600}' \
	http://127.0.0.1:18092/api/admin/rooms/bench >/dev/null
sleep 1.2 # the gateway reads the routes every second
token=$(curl -sf -X POST -H 'Content-Type: application/json' http://127.0.0.1:18091/_waitroom/api/rooms/bench/tickets |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["entry_token"])')
cookie="wr_entry_bench=$token"
gport() { [ "$1" = main ] && echo 18094 || echo 18091; }
pport() { [ "$1" = main ] && echo 18096 || echo 18093; }
for l in $labels; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$(gport $l)/shop/x")
	[ "$code" = 200 ] || { echo "$l: admitted request answered $code"; exit 1; }
done
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
hz=$(getconf CLK_TCK)

run() { # name url [pid]
	local c0=0 r reqs pid=${3:-}
	[ -n "$pid" ] && c0=$(cpu "$pid")
	r=$(wrk -t1 -c"$conns" -d"$duration" --latency -H "Cookie: $cookie" "$2")
	reqs=$(echo "$r" | awk '/requests in/ {print $1}')
	local per="—"
	[ -n "$pid" ] && per=$(python3 -c "print(round((($(cpu "$pid")-$c0)*1e6/$hz)/$reqs, 1))")
	echo "$r" | awk -v name="$1" -v per="$per" '
		/Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="90%" {p90=$2} $1=="99%" {p99=$2}
		END {printf "%-34s %10s req/s  p50 %-8s p90 %-8s p99 %-8s CPU %s µs/req\n", name, rps, p50, p90, p99, per}'
}
echo "wrk -t1 -c$conns -d$duration --latency -H 'Cookie: wr_entry_bench=…' (builds: $labels)"
for i in $(seq "$rounds"); do
	run "upstream directly" http://127.0.0.1:$uport/shop/x
	for l in $labels; do
		eval "pid=\$pid_$l"
		run "$l: gateway, admitted" "http://127.0.0.1:$(gport $l)/shop/x" "$pid"
		run "$l: gateway, unprotected path" "http://127.0.0.1:$(gport $l)/other" "$pid"
	done
done
if [ -n "${PROFILE:-}" ]; then
	mkdir -p "$PROFILE"
	for l in $labels; do
		curl -s -o "$PROFILE/$l.allocs0.pprof" "http://127.0.0.1:$(pport $l)/debug/pprof/allocs"
		curl -s -o "$PROFILE/$l.pprof" "http://127.0.0.1:$(pport $l)/debug/pprof/profile?seconds=10" &
		prof=$!
		reqs=$(wrk -t1 -c"$conns" -d11s -H "Cookie: $cookie" "http://127.0.0.1:$(gport $l)/shop/x" | awk '/requests in/ {print $1}')
		wait $prof
		curl -s -o "$PROFILE/$l.allocs1.pprof" "http://127.0.0.1:$(pport $l)/debug/pprof/allocs"
		echo "profile of $l: $PROFILE/$l.pprof; allocations over $reqs requests: go tool pprof -base $PROFILE/$l.allocs0.pprof $PROFILE/$l.allocs1.pprof"
	done
fi
uptime
