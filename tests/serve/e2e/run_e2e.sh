#!/usr/bin/env bash
# Runs the browser test, or exits 77 (ctest: skipped) naming what is missing.
# Usage: run_e2e.sh <serve_for_e2e binary> <output dir>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chromium="${NANOCHAT_CHROMIUM:-/usr/bin/chromium}"
if ! command -v node >/dev/null; then echo "SKIP: node is not installed (Debian: nodejs)"; exit 77; fi
if [[ ! -x "$chromium" ]]; then echo "SKIP: $chromium is missing (Debian package: chromium)"; exit 77; fi
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  echo "SKIP: playwright-core is not installed: run 'npm ci' in $here"; exit 77
fi
mkdir -p "$2"
exec node "$here/e2e.mjs" --server "$1" --out "$2" --chromium "$chromium"
