#!/usr/bin/env bash
# A/B of joins per second through HTTP: this tree's cmd/waitroom against
# another build (MAIN_BIN, e.g. main's), one after the other in the same
# run, each on its own fresh redis-server, with cmd/admitter running, a room
# in queue_all, per-address limits off. wrk sends new visitors (no cookies),
# then GET /healthz of the same process (the HTTP floor). CPU per process is
# read from /proc/<pid>/stat before and after each wrk run.
#   MAIN_BIN=/tmp/joins-main-bin/waitroom ROUNDS=2 DUR=10s CONC=50 scripts/load/joins_ab.sh
# PPROF_DIR=dir also takes an 8 s CPU profile of each server during its joins
# (dir/<label><round>-joins.prof), one of redis-server where perf is
# installed (dir/<label><round>-joins.redis.perf), and keeps Redis's INFO commandstats
# (dir/<label><round>-cmdstats.txt).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ab_setup 6397

run() {
	local label=$1 bin=$2
	local pp=()
	[ -n "${PPROF_DIR:-}" ] && pp=(-pprof-addr 127.0.0.1:6062)
	ab_start "$label" "$bin" 8093 "${pp[@]}"
	measure "$label$round-joins" http://127.0.0.1:8093/api/rooms/load/tickets -s join.lua
	echo "$label redis: $(redis-cli -p $port info commandstats | grep -E 'cmdstat_(evalsha|eval|fcall)' | cut -d, -f1-3 | tr '\n' ' ')"
	[ -n "${PPROF_DIR:-}" ] && redis-cli -p $port info commandstats >"$PPROF_DIR/$label$round-cmdstats.txt"
	measure "$label$round-healthz" http://127.0.0.1:8093/healthz
	ab_stop
}

ab_rounds
