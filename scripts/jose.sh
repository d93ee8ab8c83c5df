#!/usr/bin/env bash
# jose, the JWT library of docs/INTEGRATION.md's Node snippet, which
# cmd/waitroom's TestIntegrationDocSnippets runs, from npm at a pinned version.
#
#   scripts/jose.sh install   install into <repo>/.tools/ if needed
#   scripts/jose.sh path      install if needed, then print the package's directory
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/npm-tool.sh" "${1:-}" jose 6.2.18
