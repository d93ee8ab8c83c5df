#!/usr/bin/env bash
# axe-core, the accessibility engine that the page tests inject into
# Chromium (internal/browsertest.Axe), from npm at a pinned version.
#
#   scripts/axe-core.sh install   install into <repo>/.tools/ if needed
#   scripts/axe-core.sh path      install if needed, then print the path of axe.min.js
#
# Everything lives in <repo>/.tools/ (gitignored). npm is the only
# prerequisite; Debian's npm is installed when it is missing. Idempotent, and
# safe when several test packages ask at once (flock on .tools/axe.lock).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/npm.sh
axe_version="4.14.1"
file="$tools/node_modules/axe-core/axe.min.js"

installed() {
	[ -f "$file" ] && has_version axe-core "$axe_version"
}

install() {
	if installed; then
		return
	fi
	mkdir -p "$tools"
	exec 9>"$tools/axe.lock"
	flock 9
	if installed; then
		return
	fi
	ensure_npm
	say "installing axe-core@$axe_version into $tools"
	npm_install "$tools" "axe-core@$axe_version"
	if ! installed; then
		say "install failed: $file (version $axe_version) missing"
		exit 1
	fi
}

case "${1:-}" in
install) install ;;
path)
	install
	echo "$file"
	;;
*)
	echo "usage: $0 install|path" >&2
	exit 2
	;;
esac
