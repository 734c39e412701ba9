#!/usr/bin/env bash
# Installs dependencies, configures (CUDA is built when nvcc is found), builds and runs every test.
# Environment: NANOCHAT_PRESET (default auto), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
preset="${NANOCHAT_PRESET:-auto}"
jobs="${JOBS:-$(nproc)}"
cmake --preset "$preset" -DNANOCHAT_WERROR=ON
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs" --timeout 900
