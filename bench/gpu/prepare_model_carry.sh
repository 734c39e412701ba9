#!/usr/bin/env bash
# Run here (the dev machine) before a `model_suite.sh` device call: packs a CUDA build's binaries into
# .carry-model (git-ignored) with everything the suite's stages read: a tokenizer, the original nanochat
# (from a fetched mirror, never committed), the pretraining shards, the chat task files and a word list.
#   bench/gpu/prepare_model_carry.sh BUILD_DIR TOKENIZER_DIR [BINARY_NAME...]
# BINARY_NAME defaults to every binary the stages use. The device call names .carry-model in `carry`
# (64 MiB at most; the script prints the size).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${1:?build dir}"; TOK="${2:?tokenizer dir (tokenizer.json etc.)}"; shift 2
names=("$@")
(( ${#names[@]} )) || names=(nanochat test_gpu_model test_gpu_kernels test_chat_rl gpu_train_step_bench parity_train)
bins=()
for n in "${names[@]}"; do
  found=$(find "$BUILD" -type f -name "$n" -perm -u+x | head -1)
  [[ -n "$found" ]] || { echo "prepare_model_carry.sh: no binary $n under $BUILD" >&2; exit 2; }
  bins+=("$found")
done
bash bench/gpu/pack_binaries.sh .carry-model "${bins[@]}"
cp -r "$TOK" .carry-model/tok
SHARED="${NANOCHAT_SHARED:-../shared}"
mkdir -p .carry-model/data
for d in shards gsm8k mmlu chat-conversations humaneval; do cp -r "$SHARED/data/$d" .carry-model/data/; done
mkdir -p .carry-model/data/core-eval/eval_data/world_knowledge
cp "$SHARED"/data/core-eval/eval_data/world_knowledge/arc_*.jsonl .carry-model/data/core-eval/eval_data/world_knowledge/ 2>/dev/null || true
[[ -f /usr/share/dict/american-english ]] && cp /usr/share/dict/american-english .carry-model/data/words
ORIG="${NANOCHAT_ORIGINAL:-/work/.mirror/karpathy+nanochat/repo}"
if [[ -d "$ORIG" ]]; then
  mkdir -p .carry-model/orig && git -C "$ORIG" archive HEAD nanochat scripts tasks | tar -x -C .carry-model/orig
fi
du -sh .carry-model
