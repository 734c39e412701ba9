#!/usr/bin/env bash
# The CPU demo pipeline, offline: build, turn Debian's English documentation into pretraining shards,
# train and evaluate a tokenizer, pretrain a small GPT (depth 4, a few minutes on a laptop CPU), and let
# it complete a prompt. SFT and chat evaluation join as they land.
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
echo "== pretraining: depth 4, 150 steps (validation bpb every 50 steps)"
# Learning rates at 4x the defaults: the automatic batch scaling divides them by 16 at this tiny batch.
"$BIN" base-train --depth=4 --max-seq-len=256 --device-batch-size=8 --total-batch-size=2048 \
  --num-iterations=150 --warmup-steps=10 --eval-every=50 --eval-tokens=16384 --sample-every=150 \
  --embedding-lr=1.2 --unembedding-lr=0.032 --matrix-lr=0.08 --scalar-lr=2.0 --model-tag=d4
echo "== evaluation: bits per byte on the train and val shards, and samples"
"$BIN" base-eval -g d4 --eval bpb,sample --split-tokens 65536 --device-batch-size 8
echo "== the base model completes a prompt"
"$BIN" chat-cli -i base -g d4 -t 0 -m 32 -p "The PostgreSQL server"
echo "== done. Chat with it in a browser: $BIN chat-web -i base -g d4  (then open http://127.0.0.1:8000/)"
