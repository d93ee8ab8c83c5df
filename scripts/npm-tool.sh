#!/usr/bin/env bash
# An npm package the tests use, at a pinned version, in <repo>/.tools/
# (gitignored): axe-core (scripts/axe-core.sh), jose (scripts/jose.sh).
#
#   scripts/npm-tool.sh install NAME VERSION        install if needed
#   scripts/npm-tool.sh path NAME VERSION [FILE]    install if needed, then print
#                                                   the package's directory, or FILE in it
#   scripts/npm-tool.sh npm                         install Debian's npm if there is none
#
# npm is the only prerequisite; Debian's npm is installed when it is missing.
# Idempotent, and safe when several test packages ask at once (flock on
# .tools/axe.lock, the lock axe-core.sh has always taken, so that checkouts
# sharing .tools wait for each other).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/npm.sh
cmd="${1:-}" name="${2:-}" version="${3:-}" file="${4:-}"

if [ "$cmd" = npm ]; then
	ensure_npm
	exit 0
fi
if [ -z "$name" ] || [ -z "$version" ] || { [ "$cmd" != install ] && [ "$cmd" != path ]; }; then
	echo "usage: $0 install|path NAME VERSION [FILE], or $0 npm" >&2
	exit 2
fi
dir="$tools/node_modules/$name"

installed() {
	has_version "$name" "$version" && { [ -z "$file" ] || [ -f "$dir/$file" ]; }
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
	say "installing $name@$version into $tools"
	npm_install "$tools" "$name@$version"
	if ! installed; then
		say "install failed: $dir (version $version) missing"
		exit 1
	fi
}

install
if [ "$cmd" = path ]; then
	echo "$dir${file:+/$file}"
fi
