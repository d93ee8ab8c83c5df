#!/usr/bin/env bash
# check-compose.sh — validate docker-compose.yml and deploy/Caddyfile without
# a Docker engine (CI has none). Installs Debian's docker-compose (1.29) and
# caddy when missing, then:
#   1. docker-compose -f docker-compose.yml config -q   (schema, interpolation)
#   2. a few structural checks on the resolved file (the services of issue 6
#      are there, only the proxy publishes a port, Redis is append-only,
#      every long-running service restarts, the signing key is a secret)
#   3. caddy validate on deploy/Caddyfile (the proxy's config)
# Exits non-zero on the first failure. Needs no signing key and no .env: it
# makes throwaway ones when the real ones are absent, and never writes into
# the work tree.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "check-compose: $*" >&2; }

sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
fi

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
if [ "${#missing[@]}" -gt 0 ]; then
	say "installing ${missing[*]} with apt-get"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

# The file requires WAITROOM_ADMIN_TOKEN (a ${…:?} guard). Take it from the
# environment or .env when set; else a throwaway one, for validation only.
if [ -z "${WAITROOM_ADMIN_TOKEN:-}" ] && ! grep -qs '^WAITROOM_ADMIN_TOKEN=.' .env; then
	export WAITROOM_ADMIN_TOKEN="check-compose-throwaway-token"
fi
# The signing key is a secret file that is never committed; point the file
# at a throwaway key unless the real one (or an override) exists.
if [ -z "${WAITROOM_SIGNING_KEY_FILE:-}" ] && [ ! -e deploy/signing-key.pem ]; then
	if command -v openssl >/dev/null 2>&1; then
		(umask 077 && openssl genpkey -algorithm ed25519 -out "$tmp/signing-key.pem")
	else
		: >"$tmp/signing-key.pem"
	fi
	export WAITROOM_SIGNING_KEY_FILE="$tmp/signing-key.pem"
fi

say "$(docker-compose version --short 2>/dev/null || docker-compose version | head -n 1): config -q"
docker-compose -f docker-compose.yml config -q

docker-compose -f docker-compose.yml config >"$tmp/resolved.yml"
python3 - "$tmp/resolved.yml" <<'EOF'
import sys
import yaml

with open(sys.argv[1]) as f:
    cfg = yaml.safe_load(f)
services = cfg.get("services", {})
errors = []

want = {"redis", "sqs", "waitroom1", "waitroom2", "admitter1", "admitter2", "booking", "proxy"}
if set(services) != want:
    errors.append(f"services are {sorted(services)}, want {sorted(want)}")
for name, svc in services.items():
    if svc.get("ports") and name != "proxy":
        errors.append(f"{name} publishes ports {svc['ports']}: only proxy may")
    if svc.get("restart") not in ("always", "unless-stopped"):
        errors.append(f"{name}: restart is {svc.get('restart')!r}")
if not services.get("proxy", {}).get("ports"):
    errors.append("proxy publishes no port")
cmd = services.get("redis", {}).get("command") or []
if isinstance(cmd, str):
    cmd = cmd.split()
if "--appendonly" not in cmd or cmd[cmd.index("--appendonly") + 1] != "yes":
    errors.append(f"redis is not append-only: command {cmd}")
for name in ("waitroom1", "waitroom2"):
    svc = services.get(name, {})
    env = svc.get("environment") or {}
    if env.get("WAITROOM_SIGNING_KEY") != "/run/secrets/signing_key":
        errors.append(f"{name}: WAITROOM_SIGNING_KEY is {env.get('WAITROOM_SIGNING_KEY')!r}")
    if "signing_key" not in [s if isinstance(s, str) else s.get("source") for s in svc.get("secrets") or []]:
        errors.append(f"{name}: no signing_key secret")

for e in errors:
    print("check-compose:", e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
say "structure: ok (8 services, only proxy publishes a port)"

# The gateway example of docs/INTEGRATION.md: schema and interpolation.
docker-compose -f deploy/gateway/docker-compose.yml config -q
say "deploy/gateway/docker-compose.yml: ok"

# caddy validate prints its own log lines; show them only on failure.
if ! caddy validate --adapter caddyfile --config deploy/Caddyfile >"$tmp/caddy.log" 2>&1; then
	cat "$tmp/caddy.log" >&2
	say "deploy/Caddyfile is invalid"
	exit 1
fi
say "deploy/Caddyfile: valid (caddy $(caddy version | cut -d' ' -f1))"
say "ok"
