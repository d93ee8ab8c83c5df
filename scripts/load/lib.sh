# Sourced by the scripts of scripts/load: the steps every run starts with.
# Sets $repo (this tree) and $work (a fresh directory for the run).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"

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
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
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
	"$work/waitroom" -addr "127.0.0.1:$2" -join-rate 0 -log-level warn -shutdown-grace 0s \
		>"$work/waitroom.out" 2>"$work/waitroom.err" &
	W=$!
	sleep 1
}
