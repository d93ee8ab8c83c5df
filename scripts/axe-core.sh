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
tools="$(pwd)/.tools"
axe_version="4.14.1"
file="$tools/node_modules/axe-core/axe.min.js"
pkg="$tools/node_modules/axe-core/package.json"

say() { echo "axe-core: $*" >&2; }

installed() {
	[ -f "$file" ] && [ -f "$pkg" ] && grep -q "\"version\": \"$axe_version\"" "$pkg"
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
	if ! command -v npm >/dev/null 2>&1; then
		say "npm not found: installing Debian's npm"
		local sudo=""
		if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
			sudo="sudo"
		fi
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get update
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
	fi
	say "installing axe-core@$axe_version into $tools"
	npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "axe-core@$axe_version" >&2
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
