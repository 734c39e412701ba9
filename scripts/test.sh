#!/usr/bin/env bash
# Installs dependencies, configures (CUDA is built when nvcc is found), builds and runs every test.
# Environment: NANOCHAT_PRESET (default auto), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# The browser test drives Debian's chromium with playwright-core from npm (pinned by package-lock.json).
if command -v npm >/dev/null && [[ -f tests/serve/e2e/package-lock.json ]]; then
  (cd tests/serve/e2e && npm ci --no-audit --no-fund --loglevel=error) || echo "test.sh: npm ci failed; the browser test will skip"
fi
preset="${NANOCHAT_PRESET:-auto}"
jobs="${JOBS:-$(nproc)}"
cmake --preset "$preset" -DNANOCHAT_WERROR=ON
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs" --timeout 900
