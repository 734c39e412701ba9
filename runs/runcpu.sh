#!/usr/bin/env bash
# The CPU demo pipeline. Today it runs what exists end to end: build, train a tokenizer on the bundled
# corpus, evaluate its compression. Pretraining, SFT, evaluation and chat join as they land.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset cpu >/dev/null
cmake --build --preset cpu -j "$(nproc)"
BIN=build/cpu/apps/nanochat/nanochat

export NANOCHAT_BASE_DIR="${NANOCHAT_BASE_DIR:-$HOME/.cache/nanochat}"
SHARED="${NANOCHAT_SHARED:-../shared}"
if [[ -d "$NANOCHAT_BASE_DIR/base_data_climbmix" ]]; then
  CORPUS="$NANOCHAT_BASE_DIR/base_data_climbmix"
elif [[ -d "$SHARED/data/shards" ]]; then
  CORPUS="$SHARED/data/shards"
else
  echo "runcpu: no corpus found: expected $NANOCHAT_BASE_DIR/base_data_climbmix or $SHARED/data/shards" >&2
  exit 1
fi

echo "== tokenizer: train (vocab 4096) on $CORPUS"
"$BIN" tok-train --input "$CORPUS" --vocab-size=4096
echo "== tokenizer: evaluate"
"$BIN" tok-eval --shards "$CORPUS"
echo "== done (pretraining, SFT and chat stages are not in the demo yet)"
