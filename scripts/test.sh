#!/usr/bin/env bash
# The one command that runs the whole test suite, on a fresh Debian 12
# machine as well as a prepared one: it installs what the tests need, checks
# that go.mod is tidy, then vets and tests every package. Extra arguments go to `go test`, e.g.
#   scripts/test.sh -run TestRestart -v
# Tests start real redis-server processes and fail, never skip, without them,
# which is why this script installs Redis rather than leaving it to chance.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Go is unpacked at /usr/local/go but a fresh shell may not have it on PATH.
if ! command -v go >/dev/null 2>&1; then
	export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
	echo "test.sh: go not found on PATH or in /usr/local/go/bin: install Go 1.26" >&2
	exit 1
fi

# Root on the CI machine; sudo elsewhere, if there is one.
sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
fi

# apt-get update once, and only when something is missing, so a prepared
# machine runs the tests without touching the network.
apt_updated=""
apt_install() {
	if [ -z "$apt_updated" ]; then
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get update
		apt_updated=1
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# go test -race links its runtime through cgo: a C compiler.
if ! command -v gcc >/dev/null 2>&1; then
	apt_install gcc libc6-dev
fi
# redis-server for every store test; redis-cli (redis-tools) to form clusters.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
	apt_install redis-server redis-tools
fi
# redis-sentinel for the failover tests (internal/redistest's Sentinel set).
if ! command -v redis-sentinel >/dev/null 2>&1; then
	apt_install redis-sentinel
fi
# Browser tests drive chromium.
if ! command -v chromium >/dev/null 2>&1; then
	apt_install chromium
fi
# Korean pages (and their screenshots in docs/screenshots) need a CJK font:
# without one headless Chromium draws boxes.
if ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
	apt_install fonts-noto-cjk
fi
# The forward-auth tests start the real nginx and Caddy.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
	apt_install nginx
fi
if ! command -v caddy >/dev/null 2>&1; then
	apt_install caddy
fi
# docs/INTEGRATION.md's Python snippet runs on Debian's PyJWT and
# cryptography (cmd/waitroom's TestIntegrationDoc*; PyPI is not needed).
if ! dpkg -s python3-jwt python3-cryptography >/dev/null 2>&1; then
	apt_install python3-jwt python3-cryptography
fi
# axe-core for the pages' accessibility checks and jose for the doc's Node
# snippet, from npm into .tools/; the tests run these scripts too, so
# installing here only saves them the wait.
scripts/axe-core.sh install
scripts/jose.sh install

# The SQS emulator for the admitter's tests, when its script exists.
if [ -x scripts/sqs-emulator.sh ]; then
	scripts/sqs-emulator.sh start
fi

# docker-compose.yml cannot run here (no Docker engine): validate it.
bash scripts/check-compose.sh

# go.mod and go.sum name exactly what the code imports: tidy changes nothing.
if ! go mod tidy -diff; then
	echo "test.sh: go.mod or go.sum is not tidy (the diff is above): run go mod tidy" >&2
	exit 1
fi

go vet ./...
# The packages whose goroutines share state (the line's batchers, the hub,
# the pacers, the handlers, the caches and limiters) run under the race
# detector; the rest, mostly processes driven from outside, without it, so
# CI stays well under its 15 minutes (the whole tree passes -race too:
# docs/RELIABILITY.md).
race=(./pkg/... ./internal/hub/... ./internal/pacer/... ./internal/httpapi/... ./internal/booking/...
	./internal/ratelimit/... ./internal/jwks/... ./internal/usertoken/... ./internal/gateway/... ./internal/relay/...)
mapfile -t rest < <(go list ./... | grep -vxF -f <(go list "${race[@]}"))
go test -race -count=1 -timeout 20m "$@" "${race[@]}"
go test -count=1 -timeout 20m "$@" "${rest[@]}"
# Fault tests that take longer than a minute (the SQS emulator down 30 s).
if [ $# -eq 0 ]; then WAITROOM_SLOW_FAULTS=1 go test -count=1 -timeout 5m -run Slow ./internal/faults/; fi
# The chaos soak in its short form (about a minute); scripts/chaos.sh runs
# the long one.
if [ $# -eq 0 ]; then bash scripts/chaos.sh 40s; fi

# A short run of every fuzz target (go test above ran their seed corpora).
# FUZZTIME=0 skips it; a failure leaves its input under testdata/fuzz/.
# A count, not a duration: Go 1.26's fuzz coordinator can fail a run that
# reaches its -fuzztime deadline with "context deadline exceeded" and no
# input (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
fuzztime="${FUZZTIME:-20000x}"
if [ "$fuzztime" != "0" ] && [ $# -eq 0 ]; then
	grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
		dir=$(dirname "$file")
		for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
			echo "fuzz $dir $target ($fuzztime)"
			if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$dir" 2>&1); then
				echo "$out"
				exit 1
			fi
		done
	done
	echo "fuzz: every target ran $fuzztime without a failure"
fi
