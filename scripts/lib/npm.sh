# Sourced from the repository's root by the scripts that install npm
# packages into .tools/ (scripts/axe-core.sh, scripts/sqs-emulator.sh).

tools="$(pwd)/.tools"

# say writes a message on stderr, after the script's name.
say() { echo "$(basename "$0" .sh): $*" >&2; }

# has_version PACKAGE VERSION: .tools holds PACKAGE at VERSION.
has_version() {
	local pkg="$tools/node_modules/$1/package.json"
	[ -f "$pkg" ] && grep -q "\"version\": \"$2\"" "$pkg"
}

# ensure_npm installs Debian's npm when there is none (through sudo when not
# root).
ensure_npm() {
	if command -v npm >/dev/null 2>&1; then
		return
	fi
	say "npm not found: installing Debian's npm"
	local sudo=""
	if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
}

# npm_install DIR PACKAGE... installs the packages into DIR/node_modules,
# quietly, its output on stderr.
npm_install() {
	local dir=$1
	shift
	npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$@" >&2
}
