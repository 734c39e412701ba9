#!/usr/bin/env bash
# Run here (the dev machine) before a device run: copies built binaries, the shared libraries they
# need beyond glibc/libstdc++ (the GPU machine has no Debian -dev packages), and the data a run reads
# into .carry/ (git-ignored), which the device call names in `carry`.
#   bench/gpu/prepare_carry.sh BUILD_DIR
# The original nanochat package (for PyTorch anchors) is copied from a fetched mirror when present
# (NANOCHAT_ORIGINAL=path/to/repo); it is never committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${1:?build dir}"; shift
rm -rf .carry && mkdir -p .carry/bin .carry/lib .carry/data
for b in apps/nanochat/nanochat bench/tokenizer_encode_bench bench/loader_bench bench/train_step_bench; do
  [[ -f "$BUILD/$b" ]] && cp "$BUILD/$b" .carry/bin/
done
for b in .carry/bin/*; do
  ldd "$b" | awk '$3 ~ /^\// {print $3}' | grep -vE 'libc\.so|libm\.so|libgcc_s|libstdc\+\+|ld-linux|libpthread|libdl\.so|librt\.so' \
    | xargs -r -I{} cp -L {} .carry/lib/
done
# Libraries travel as one xz archive (OpenBLAS alone is 36 MB); unpack_carry.sh restores them.
tar -C .carry -cJf .carry/lib.tar.xz lib && rm -rf .carry/lib
SHARED="${NANOCHAT_SHARED:-../shared}"
for d in shards hellaswag-text mmlu gsm8k humaneval; do cp -r "$SHARED/data/$d" .carry/data/; done
ORIG="${NANOCHAT_ORIGINAL:-/work/.mirror/karpathy+nanochat/repo}"
if [[ -d "$ORIG" ]]; then
  mkdir -p .carry/orig && git -C "$ORIG" archive HEAD nanochat | tar -x -C .carry/orig
fi
du -sh .carry
