#!/usr/bin/env bash
# The chaos soak: a steady sale (two waitroom instances, two admitters on
# SQS, a Redis Sentinel set with WAITROOM_JOIN_WAIT_REPLICAS=1) while random
# faults hit it one at a time: SIGKILL and restart of waitroom instances
# and admitters, SIGKILL of the Redis primary, the SQS emulator stopped and
# started again, and connections cut (visitors to waitroom, admitters to
# SQS, every client of the primary). At the end the invariants of
# docs/RELIABILITY.md are checked against what every client saw. Loopback
# only; everything it starts ends with it.
#
#   scripts/chaos.sh          the long form, 3 minutes of faults
#   scripts/chaos.sh 40s      the short form scripts/test.sh runs
#
# Extra arguments go to go test. The run takes the duration plus about 20 s
# of setup and checks.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v go >/dev/null 2>&1; then
	export PATH="$PATH:/usr/local/go/bin"
fi
duration="${1:-3m}"
shift || true
for bin in redis-server redis-sentinel redis-cli; do
	if ! command -v "$bin" >/dev/null 2>&1; then
		echo "chaos.sh: $bin not found: apt-get install redis-server redis-sentinel redis-tools (scripts/test.sh does)" >&2
		exit 1
	fi
done
# The test runs an SQS emulator of its own (it stops and starts it), from
# the launcher this installs under .tools/.
scripts/sqs-emulator.sh start

WAITROOM_CHAOS_DURATION="$duration" exec go test -count=1 -timeout 60m -run '^TestChaos$' -v "$@" ./internal/faults/
