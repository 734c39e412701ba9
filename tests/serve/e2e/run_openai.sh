#!/usr/bin/env bash
# Runs the OpenAI client-library test, or exits 77 (ctest: skipped) naming what is missing.
# Usage: run_openai.sh <serve_for_e2e binary> [golden safetensors]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null; then echo "SKIP: node is not installed (Debian: nodejs)"; exit 77; fi
if [[ ! -d "$here/node_modules/openai" ]]; then echo "SKIP: the openai package is not installed: run 'npm ci' in $here"; exit 77; fi
golden=()
if [[ -n "${2:-}" && -f "$2" ]]; then golden=(--golden "$2"); fi
exec node "$here/openai_client.mjs" --server "$1" "${golden[@]}"
