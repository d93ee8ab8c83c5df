#!/usr/bin/env bash
# axe-core, the accessibility engine that the page tests inject into
# Chromium (internal/browsertest.Axe), from npm at a pinned version.
#
#   scripts/axe-core.sh install   install into <repo>/.tools/ if needed
#   scripts/axe-core.sh path      install if needed, then print the path of axe.min.js
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/npm-tool.sh" "${1:-}" axe-core 4.14.1 axe.min.js
