#!/usr/bin/env bash
# Runs on the device machine: the GPU model's tests, sanitizer, training-step benchmarks and the parity
# run against the original, from a carry folder prepared here:
#   B=build/cuda; bench/gpu/pack_binaries.sh .carry-model $B/tests/gpu/test_gpu_model \
#     $B/tests/gpu/test_gpu_kernels $B/bench/gpu_train_step_bench $B/bench/parity_train
#   + .carry-model/tok (a tokenizer), .carry-model/data/shards, .carry-model/orig/nanochat (the original)
# Usage (device): bash bench/gpu/model_suite.sh .carry-model STAGE...   stages: tests sanitizer bench parity
# Logs go to $OUT (or ./out); a short summary is printed last.
set -uo pipefail
CARRY="$(cd "${1:?carry folder}" && pwd)"; shift
REPO="$PWD"
OUT="${OUT:-$REPO/out}"; mkdir -p "$OUT"
cd "$CARRY" && { [[ -d lib ]] || tar -xJf lib.tar.xz; }
export LD_LIBRARY_PATH="$CARRY/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"
summary=()
for stage in "$@"; do
  case "$stage" in
    tests)
      timeout 240 ./test_gpu_model > "$OUT/test_gpu_model.log" 2>&1; rc=$?
      summary+=("test_gpu_model rc=$rc $(grep -E '^\[  (PASSED|FAILED)' "$OUT/test_gpu_model.log" | tr '\n' ' ')")
      if [[ -x ./test_gpu_kernels ]]; then
        timeout 240 ./test_gpu_kernels > "$OUT/test_gpu_kernels.log" 2>&1; rc=$?
        summary+=("test_gpu_kernels rc=$rc $(grep -E '^\[  (PASSED|FAILED)' "$OUT/test_gpu_kernels.log" | tr '\n' ' ')")
      fi ;;
    sanitizer)
      timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_gpu_model \
        --gtest_filter='*MatchesCpuReference' > "$OUT/memcheck_model.log" 2>&1; rc=$?
      summary+=("memcheck test_gpu_model rc=$rc $(grep -E 'ERROR SUMMARY' "$OUT/memcheck_model.log" | tail -1)") ;;
    bench)
      for cfg in "12 L" "20 L" "20 SSSL"; do
        set -- $cfg
        timeout 180 ./gpu_train_step_bench --depth "$1" --window-pattern "$2" --steps 10 \
          >> "$OUT/train_step_bench.jsonl" 2> "$OUT/train_step_bench_d$1_$2.err"
        summary+=("bench d$1 $2: $(tail -1 "$OUT/train_step_bench.jsonl" | cut -c1-400)")
      done ;;
    parity)
      P="$OUT/parity"; mkdir -p "$P"
      timeout 200 ./parity_train --tokenizer-dir tok --data-dir data/shards --out "$P" --device cuda --depth 6 \
        --seq 512 --batch 16 --steps 200 --batch-lr-scale 0.5 > "$P/ours.log" 2>&1
      summary+=("parity ours rc=$? $(tail -1 "$P/ours.log")")
      timeout 300 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" > "$P/original.log" 2>&1
      summary+=("parity original rc=$? $(tail -2 "$P/original.log" | tr '\n' ' ')")
      rm -f "$P/batches.bin" "$P/init.safetensors" ;;
    *) summary+=("unknown stage $stage") ;;
  esac
done
printf '%s\n' "${summary[@]}"
