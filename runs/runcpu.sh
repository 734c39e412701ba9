#!/usr/bin/env bash
# The CPU demo pipeline, offline: build, turn Debian's English documentation into pretraining shards,
# train and evaluate a tokenizer. Pretraining, SFT, evaluation and chat join as they land.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset cpu >/dev/null
cmake --build --preset cpu -j "$(nproc)"
BIN=build/cpu/apps/nanochat/nanochat

export NANOCHAT_BASE_DIR="${NANOCHAT_BASE_DIR:-$HOME/.cache/nanochat}"
DATA="$NANOCHAT_BASE_DIR/base_data_climbmix"
if ! compgen -G "$DATA/*.parquet" >/dev/null; then
  echo "== data: building shards from the demo corpus (Debian documentation, ~24M characters)"
  "$BIN" dataset --from-text /usr/share/doc/python3.11/html/_sources,/usr/share/doc/postgresql-doc-15/html,/usr/share/debian-reference,/usr/share/doc/jargon-text/jargon.html,/usr/share/games/fortunes
fi

echo "== tokenizer: train (vocab 4096) on $DATA"
"$BIN" tok-train --vocab-size=4096
echo "== tokenizer: evaluate"
"$BIN" tok-eval
echo "== done (pretraining, SFT and chat stages are not in the demo yet)"
