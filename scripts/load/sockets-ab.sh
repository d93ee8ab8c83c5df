#!/usr/bin/env bash
# scripts/load/sockets.sh against a build of main and of this tree, back to
# back, ROUNDS times (main first in each round), so both see the same machine.
#   MAIN=/work/main ROUNDS=1 VISITORS=19000 HOLD=30s scripts/load/sockets-ab.sh
set -u
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
main="${MAIN:-/work/main}"
mainbin="${MAIN_BIN:-/tmp/sockets-main-bin}"
(cd "$main" && go build -o "$mainbin" ./cmd/waitroom) || exit 1
echo "main: $(git -C "$main" rev-parse --short HEAD) -> $mainbin"
here="$(mktemp -d)/waitroom"
go build -o "$here" "$repo/cmd/waitroom" || exit 1
echo "this tree: $(git -C "$repo" rev-parse --short HEAD) -> $here"
for round in $(seq "${ROUNDS:-1}"); do
	for which in main tree; do
		bin=$mainbin; [ $which = tree ] && bin=$here
		echo "=== round $round: $which"
		WAITROOM_BIN=$bin "$repo/scripts/load/sockets.sh" 2>&1 | grep -E '^(sockets|ticks|  to last|server|exactness|admissions|errors|cpu per|result|logs)'
	done
done
