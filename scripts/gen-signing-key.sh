#!/usr/bin/env bash
# gen-signing-key.sh [out.pem] — write a new Ed25519 entry-token signing key
# (PKCS #8 PEM, mode 600) for WAITROOM_SIGNING_KEY. Default: signing-key.pem.
# Never overwrites an existing file: replacing a key in place would cut off
# every admitted visitor; rotate instead (new key, keep the old one as previous).
set -euo pipefail

out="${1:-signing-key.pem}"

if ! command -v openssl >/dev/null 2>&1; then
	echo "gen-signing-key: openssl not found (apt-get install openssl)" >&2
	exit 1
fi
if [[ -e "$out" ]]; then
	echo "gen-signing-key: $out already exists; refusing to overwrite it" >&2
	exit 1
fi

# Create the file exclusively (noclobber) and private from the start, so the
# key is never readable by others, not even for a moment.
umask 077
set -o noclobber
if ! exec 3>"$out"; then
	echo "gen-signing-key: cannot create $out" >&2
	exit 1
fi
if ! openssl genpkey -algorithm ed25519 >&3; then
	exec 3>&-
	rm -f -- "$out"
	echo "gen-signing-key: openssl genpkey failed" >&2
	exit 1
fi
exec 3>&-
chmod 600 -- "$out"
echo "$out"
