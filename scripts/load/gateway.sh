#!/usr/bin/env bash
# The gateway's cost per proxied request of an admitted visitor: wrk against
# a small upstream (nginx answering a 1 KiB body) directly, then the same
# through waitroom in gateway mode (one process, one Redis), and the CPU the
# gateway process spent per request (from /proc/<pid>/stat).
#   DURATION=15s CONNS=8 scripts/load/gateway.sh
set -eu
trap 'echo "gateway.sh: failed at line $LINENO" >&2' ERR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
duration="${DURATION:-15s}"
conns="${CONNS:-8}"
build waitroom
cd "$work"
rport=6396 uport=18090 gport=18091 aport=18092
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
REDIS_URL=redis://127.0.0.1:$rport/0 WAITROOM_ADMIN_TOKEN=benchtoken WAITROOM_SIGNING_KEY="$work/key.pem" \
	WAITROOM_UPSTREAM=http://127.0.0.1:$uport WAITROOM_ADMIN_ADDR=127.0.0.1:$aport \
	./waitroom -addr 127.0.0.1:$gport -log-level warn -shutdown-grace 0s > waitroom.out 2> waitroom.err &
W=$!
trap 'kill $W $N 2>/dev/null; redis-cli -p $rport shutdown nosave >/dev/null 2>&1 || true' EXIT
sleep 1.5
curl -sf -X PUT -H "Authorization: Bearer benchtoken" -H 'Content-Type: application/json' -d '{"mode":"auto","capacity":0,"routes":["/shop/"],"session_ttl_s":3600}' \
	http://127.0.0.1:$aport/api/admin/rooms/bench >/dev/null
sleep 1.2 # the gateway reads the routes every second
token=$(curl -sf -X POST -H 'Content-Type: application/json' http://127.0.0.1:$gport/_waitroom/api/rooms/bench/tickets |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["entry_token"])')
cookie="wr_entry_bench=$token"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" http://127.0.0.1:$gport/shop/x)
[ "$code" = 200 ] || { echo "admitted request answered $code"; exit 1; }
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
hz=$(getconf CLK_TCK)

run() { # name url
	echo "--- $1: wrk -t1 -c$conns -d$duration --latency -H 'Cookie: …' $2"
	local c0 r
	c0=$(cpu $W)
	r=$(wrk -t1 -c"$conns" -d"$duration" --latency -H "Cookie: $cookie" "$2")
	echo "$r" | grep -E 'Latency  |50%|90%|99%|Requests/sec|requests in'
	local reqs
	reqs=$(echo "$r" | awk '/requests in/ {print $1}')
	echo "gateway CPU: $(( ($(cpu $W) - c0) * 1000000 / hz )) µs total, $(python3 -c "print(round((($(cpu $W)-$c0)*1e6/$hz)/$reqs, 1))") µs per request"
}
run "upstream directly" http://127.0.0.1:$uport/shop/x
run "through the gateway, admitted" http://127.0.0.1:$gport/shop/x
run "through the gateway, unprotected path" http://127.0.0.1:$gport/other
uptime
