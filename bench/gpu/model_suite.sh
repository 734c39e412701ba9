#!/usr/bin/env bash
# Runs on the device machine: the GPU model's tests, sanitizer, training-step benchmarks and the parity
# run against the original, from a carry folder prepared here:
#   B=build/cuda; bench/gpu/pack_binaries.sh .carry-model $B/tests/gpu/test_gpu_model \
#     $B/tests/gpu/test_gpu_kernels $B/bench/gpu_train_step_bench $B/bench/parity_train
#   + .carry-model/tok (a tokenizer), .carry-model/data/shards, .carry-model/orig/nanochat (the original)
# Usage (device): bash bench/gpu/model_suite.sh .carry-model STAGE...   stages: tests sanitizer bench parity ...
# (every `name)` below; ZERO0_EAGER_ONLY=1 skips the original's compiled runs in zero0)
# Logs go to $OUT (or ./out); a short summary is printed last.
set -uo pipefail
CARRY="$(cd "${1:?carry folder}" && pwd)"; shift
REPO="$PWD"
OUT="${OUT:-$REPO/out}"; mkdir -p "$OUT"
cd "$CARRY" && { [[ -d lib ]] || tar -xJf lib.tar.xz; }
export LD_LIBRARY_PATH="$CARRY/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"
summary=()
# The chat stages' scratch folder: task data in the original's parquet cache layout and ours
# (bench/anchors/original_stage.py prepare, logged to $1); sets W, OS, NANOCHAT_BASE_DIR (ours) and TD.
chat_work() {
  W="$CARRY/work"; OS="$REPO/bench/anchors/original_stage.py"; mkdir -p "$W"
  python3 "$OS" prepare "$CARRY/orig" tok data "$W" > "$1" 2>&1
  export NANOCHAT_BASE_DIR="$W/ours"; TD="$W/ours_task_data"
}
# The d12 chat pipeline's pieces (stages chatd12 and rlrise; they log to $L and use chat_work's $TD).
# d12_base_train LIMIT_S [flags...]: 200 steps of 65,536 tokens on the three shards.
d12_base_train() {
  local limit="$1"; shift
  timeout "$limit" ./nanochat base-train --device-type cuda --depth 12 --max-seq-len 2048 --device-batch-size 32 \
    --total-batch-size 65536 --num-iterations 200 --sample-every -1 --core-metric-every -1 --model-tag d12 \
    --data-dir data/shards --tokenizer-dir tok "$@" >> "$L" 2>&1
}
# d12_chat_eval SOURCE PROBLEMS LIMIT_S: greedy GSM8K and SpellingBee (256 new tokens), into the summary.
d12_chat_eval() {
  timeout "$3" ./nanochat chat-eval -i "$1" -g d12 --device-type cuda --tokenizer-dir tok --data-root "$TD" \
    --word-list data/words -a "GSM8K|SpellingBee" -x "$2" -m 256 >> "$L" 2>&1
  summary+=("d12 $1: $(grep -E '^(GSM8K|SpellingBee) accuracy' "$L" | tail -2 | tr '\n' ' ')")
}
for stage in "$@"; do
  case "$stage" in
    tests)
      timeout 240 ./test_gpu_model > "$OUT/test_gpu_model.log" 2>&1; rc=$?
      summary+=("test_gpu_model rc=$rc $(grep -E '^\[  (PASSED|FAILED)' "$OUT/test_gpu_model.log" | tr '\n' ' ')")
      if [[ -x ./test_chat_rl ]]; then  # chat-rl through the CUDA training backend vs the CPU
        timeout 120 ./test_chat_rl --gtest_filter='*Cuda*' > "$OUT/test_chat_rl_cuda.log" 2>&1; rc=$?
        summary+=("test_chat_rl (cuda) rc=$rc $(grep -E '^\[  (PASSED|FAILED|SKIPPED)|Failure|Which is|evaluates to|actual' "$OUT/test_chat_rl_cuda.log" | head -12 | tr '\n' ' ')")
      fi
      if [[ -x ./test_gpu_kernels ]]; then
        timeout 240 ./test_gpu_kernels > "$OUT/test_gpu_kernels.log" 2>&1; rc=$?
        summary+=("test_gpu_kernels rc=$rc $(grep -E '^\[  (PASSED|FAILED)' "$OUT/test_gpu_kernels.log" | tr '\n' ' ')")
      fi ;;
    sanitizer)
      timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_gpu_model \
        --gtest_filter='*MatchesCpuReference:*Inference*' > "$OUT/memcheck_model.log" 2>&1; rc=$?
      summary+=("memcheck test_gpu_model rc=$rc $(grep -E 'ERROR SUMMARY' "$OUT/memcheck_model.log" | tail -1)")
      timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_gpu_kernels \
        --gtest_filter='-*Attention*' > "$OUT/memcheck_kernels.log" 2>&1; rc=$?
      summary+=("memcheck test_gpu_kernels (non-attention) rc=$rc $(grep -E 'ERROR SUMMARY' "$OUT/memcheck_kernels.log" | tail -1)")
      # racecheck reports hazards inside cuBLAS's own nvjet GEMM kernels (TMA/async barriers it does not
      # model), so the tests whose kernels call cuBLASLt are left out; ours are all covered.
      timeout 240 compute-sanitizer --tool racecheck --error-exitcode 9 ./test_gpu_kernels \
        --gtest_filter='-*Gemm*:*Optimizer*:*Muon*:*Attention*' > "$OUT/racecheck_kernels.log" 2>&1; rc=$?
      # The decode-GEMV tests compare with cuBLASLt products too; count the reports outside nvjet kernels
      # (--kernel-name-exclude on nvjet crashed racecheck: "failed to handle a hardware exception").
      ours=$(grep -E '^========= Error: Race reported' "$OUT/racecheck_kernels.log" | grep -vc nvjet_)
      summary+=("racecheck test_gpu_kernels (all but cuBLAS users and attention) rc=$rc $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/racecheck_kernels.log" | tail -1); reports outside cuBLAS's nvjet kernels: $ours") ;;
    bench)
      for cfg in "12 L" "20 L" "20 SSSL"; do
        set -- $cfg
        NANOCHAT_PROFILE=1 timeout 180 ./gpu_train_step_bench --depth "$1" --window-pattern "$2" --steps 10 \
          >> "$OUT/train_step_bench.jsonl" 2>> "$OUT/train_step_profiles.txt"
        summary+=("bench d$1 $2: $(tail -1 "$OUT/train_step_bench.jsonl" | cut -c1-400)")
      done ;;
    parity)
      P="$OUT/parity"; mkdir -p "$P"
      timeout 200 ./parity_train --tokenizer-dir tok --data-dir data/shards --out "$P" --device cuda --depth 6 \
        --seq 512 --batch 16 --steps 200 --batch-lr-scale 0.5 > "$P/ours.log" 2>&1
      summary+=("parity ours rc=$? $(tail -1 "$P/ours.log")")
      timeout 200 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" > "$P/original.log" 2>&1
      summary+=("parity original eager rc=$? $(tail -1 "$P/original.log")")
      timeout 300 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" --compile >> "$P/original.log" 2>&1
      summary+=("parity original compiled rc=$? $(tail -1 "$P/original.log")")
      # The original's own run-to-run noise (SDPA's backward uses atomics), and our fp32 CPU reference.
      timeout 200 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" --tag rerun >> "$P/original.log" 2>&1
      summary+=("parity original eager rerun rc=$? $(tail -1 "$P/original.log")")
      OMP_NUM_THREADS=16 timeout 240 ./parity_train --tokenizer-dir tok --data-dir data/shards --out "$P" --device cpu \
        --depth 6 --seq 512 --batch 16 --steps 200 --batch-lr-scale 0.5 > "$P/ours_cpu.log" 2>&1
      summary+=("parity ours cpu rc=$? $(tail -1 "$P/ours_cpu.log")")
      python3 "$REPO/bench/anchors/parity_compare.py" "$P" > "$P/compare.txt" 2>&1
      cat "$P/compare.txt"
      # Only the summary travels back (the device returns a limited number of files).
      mv "$P/parity.json" "$P/compare.txt" "$OUT/" 2>/dev/null; cat "$P"/*.log > "$OUT/parity_logs.txt"; rm -rf "$P" ;;
    train)
      # base-train end to end on the GPU: loader, eval bpb, samples, checkpoints; then a resume from the
      # middle checkpoint must reproduce the uninterrupted run's last steps exactly.
      export NANOCHAT_BASE_DIR="$OUT/base"
      T=(./nanochat base-train --device-type cuda --depth 4 --max-seq-len 512 --device-batch-size 8 \
         --total-batch-size 8192 --num-iterations 40 --eval-every 20 --eval-tokens 32768 --sample-every 40 \
         --save-every 20 --core-metric-every -1 --data-dir data/shards --tokenizer-dir tok)
      timeout 200 "${T[@]}" > "$OUT/base_train.log" 2>&1; rc=$?
      summary+=("base-train cuda rc=$rc $(grep -E 'Validation bpb' "$OUT/base_train.log" | tail -1)")
      timeout 200 "${T[@]}" --resume-from-step 20 > "$OUT/base_train_resume.log" 2>&1; rc=$?
      a=$(grep -E '^.*step 000(3[0-9])' "$OUT/base_train.log" | sed -E 's/.*(step 000[0-9]+\/[0-9]+.*loss: [0-9.]+).*/\1/')
      b=$(grep -E '^.*step 000(3[0-9])' "$OUT/base_train_resume.log" | sed -E 's/.*(step 000[0-9]+\/[0-9]+.*loss: [0-9.]+).*/\1/')
      [[ -n "$a" && "$a" == "$b" ]] && same=identical || same=DIFFERENT
      summary+=("base-train resume rc=$rc: steps 30-39 losses $same; $(grep -E 'Validation bpb' "$OUT/base_train_resume.log" | tail -1)")
      rm -rf "$OUT/base" ;;
    core)
      # CORE on the GPU, ours (base-eval) and the original's evaluate_task on the same weights and task
      # files: a d6 trained here (parity of per-task accuracy), then untrained d12 and d20 (speed).
      export NANOCHAT_BASE_DIR="$OUT/core_base"; mkdir -p "$NANOCHAT_BASE_DIR"
      cp -r data/core-eval "$NANOCHAT_BASE_DIR/eval_bundle"
      for spec in "d6 6 300 128 512 16" "d12 12 1 100 2048 4" "d20 20 1 100 2048 4"; do
        set -- $spec  # tag depth steps max-per-task seq batch (1 step: an untrained model, for speed only)
        timeout 240 ./nanochat base-train --device-type cuda --depth "$2" --max-seq-len "$5" --device-batch-size "$6" \
          --total-batch-size 8192 --num-iterations "$3" --eval-every -1 --sample-every -1 --core-metric-every -1 \
          --model-tag "$1" --data-dir data/shards --tokenizer-dir tok > "$OUT/core_train_$1.log" 2>&1 || { summary+=("core $1: train failed"); continue; }
        ck=$(ls "$NANOCHAT_BASE_DIR/base_checkpoints/$1"/model_*.safetensors | tail -1)
        timeout 300 ./nanochat base-eval --device-type cuda --eval core --model-tag "$1" --max-per-task "$4" \
          --tokenizer-dir tok > "$OUT/core_ours_$1.log" 2>&1
        summary+=("core $1 ours rc=$? $(grep -E 'CORE metric' "$OUT/core_ours_$1.log" | tail -1)")
        timeout 400 python3 "$REPO/bench/anchors/core_original.py" "$CARRY/orig" "$ck" tok \
          "$NANOCHAT_BASE_DIR/eval_bundle" "$OUT/core_original_$1.json" "$4" > "$OUT/core_original_$1.log" 2>&1
        summary+=("core $1 original rc=$? $(tail -1 "$OUT/core_original_$1.log")")
        rm -rf "$NANOCHAT_BASE_DIR/base_checkpoints/$1"
      done
      rm -rf "$NANOCHAT_BASE_DIR" ;;
    infer)
      # Decode of a random-weight d20 (the issue's config): 512-token prompt, 256 new tokens, greedy.
      timeout 240 ./nanochat infer-bench --device-type cuda --random-init --depth 20 --vocab-size 32768 \
        --sequence-len 2048 --prompt-tokens 512 --decode-tokens 256 --batch-sizes 1,8,32 > "$OUT/infer_bench.log" 2>&1
      summary+=("infer-bench rc=$?"); summary+=("$(tail -8 "$OUT/infer_bench.log")") ;;
    diag)
      # Where does our CUDA run's loss curve leave the original's? Same init and batches as `parity`:
      # the fp32 CPU optimizer on our GPU gradients, and our GPU optimizer with fp32 embedding tables.
      P="$OUT/diag"; mkdir -p "$P"
      A=(--tokenizer-dir tok --data-dir data/shards --out "$P" --device cuda --depth 6 --seq 512 --batch 16 \
         --steps 200 --batch-lr-scale 0.5)
      timeout 100 ./parity_train "${A[@]}" > "$P/ours.log" 2>&1
      timeout 200 ./parity_train "${A[@]}" --host-optimizer 1 --tag hostopt > "$P/hostopt.log" 2>&1
      summary+=("diag hostopt rc=$? $(tail -1 "$P/hostopt.log")")
      timeout 100 ./parity_train "${A[@]}" --fp32-embeddings 1 --tag fp32emb > "$P/fp32emb.log" 2>&1
      summary+=("diag fp32emb rc=$? $(tail -1 "$P/fp32emb.log")")
      timeout 200 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" > "$P/original.log" 2>&1
      python3 "$REPO/bench/anchors/parity_compare.py" "$P" > "$P/compare.txt" 2>&1; tail -8 "$P/compare.txt"
      mv "$P/compare.txt" "$OUT/diag_compare.txt"; mv "$P/parity.json" "$OUT/diag_parity.json"; rm -rf "$P" ;;
    fwdnoise)
      P="$OUT/fwdnoise"; mkdir -p "$P"
      timeout 120 ./parity_train --tokenizer-dir tok --data-dir data/shards --out "$P" --device cuda --depth 6 --seq 512 \
        --batch 16 --steps 200 --batch-lr-scale 0.5 > "$P/ours.log" 2>&1
      summary+=("fwdnoise rc=$? $(grep 'final weights' "$P/ours.log")"); rm -rf "$P" ;;
    chat)
      # The chat stages on the GPU, end to end on a small model: base-train (d4), chat-sft (FastChat
      # conversations stand in for SmolTalk; MMLU auxiliary_train is absent, so --skip-missing-tasks),
      # chat-rl on GSM8K, then chat-eval and chat-cli on the result.
      export NANOCHAT_BASE_DIR="$OUT/chat_base"; TD="$NANOCHAT_BASE_DIR/task_data"; mkdir -p "$TD/smoltalk"
      cp data/chat-conversations/dummy_conversation.json "$TD/smoltalk/train.json"
      cp data/chat-conversations/dummy_conversation.json "$TD/smoltalk/test.json"
      ln -s "$CARRY/data/gsm8k" "$TD/gsm8k"; ln -s "$CARRY/data/mmlu" "$TD/mmlu"
      timeout 120 ./nanochat base-train --device-type cuda --depth 4 --max-seq-len 512 --device-batch-size 8 \
        --total-batch-size 4096 --num-iterations 100 --eval-every -1 --sample-every -1 --core-metric-every -1 \
        --model-tag d4 --data-dir data/shards --tokenizer-dir tok > "$OUT/chat_pipeline.log" 2>&1
      summary+=("chat: base-train rc=$? $(grep -E 'step 00099' "$OUT/chat_pipeline.log" | cut -c1-80)")
      timeout 150 ./nanochat chat-sft --device-type cuda --model-tag d4 --tokenizer-dir tok --data-root "$TD" \
        --skip-missing-tasks --num-iterations 30 --max-seq-len 512 --device-batch-size 4 --total-batch-size 2048 \
        --eval-every 15 --eval-tokens 8192 --chatcore-every -1 >> "$OUT/chat_pipeline.log" 2>&1
      summary+=("chat: chat-sft rc=$? $(grep -E 'Validation' "$OUT/chat_pipeline.log" | tail -1)")
      timeout 150 ./nanochat chat-rl --device-type cuda --model-tag d4 --tokenizer-dir tok --data-root "$TD" \
        --examples-per-step 2 --num-samples 4 --device-batch-size 4 --max-new-tokens 32 --eval-every 1 \
        --eval-examples 4 --max-steps 2 >> "$OUT/chat_pipeline.log" 2>&1
      summary+=("chat: chat-rl rc=$? $(grep -E 'Pass@1' "$OUT/chat_pipeline.log" | tail -1)")
      timeout 120 ./nanochat chat-eval -i rl --device-type cuda --tokenizer-dir tok --data-root "$TD" -a GSM8K -x 8 \
        >> "$OUT/chat_pipeline.log" 2>&1
      summary+=("chat: chat-eval rc=$? $(grep -E 'accuracy' "$OUT/chat_pipeline.log" | tail -1)")
      timeout 60 ./nanochat chat-cli -i rl --device-type cuda --tokenizer-dir tok -p "What is 2+2?" -t 0 -m 16 \
        >> "$OUT/chat_pipeline.log" 2>&1
      summary+=("chat: chat-cli rc=$? $(tail -1 "$OUT/chat_pipeline.log" | cut -c1-100)")
      rm -rf "$NANOCHAT_BASE_DIR" ;;
    zero0)
      # The step-0 gradients of resid_lambdas, x0_lambdas and backout_lambda are exactly zero in exact
      # arithmetic but rounding noise in bf16, and AdamW turns noise into full-size steps of random sign.
      # Zeroing them in both runs (same init and batches as `parity`) removes that coin flip.
      P="$OUT/zero0"; mkdir -p "$P"
      A=(--tokenizer-dir tok --data-dir data/shards --out "$P" --device cuda --depth 6 --seq 512 --batch 16 \
         --steps 200 --batch-lr-scale 0.5)
      timeout 100 ./parity_train "${A[@]}" > "$P/ours.log" 2>&1
      timeout 100 ./parity_train "${A[@]}" --zero-step0-scalar-grads 1 --tag z >> "$P/ours.log" 2>&1
      grep "step 0 gradient" "$P/ours.log"
      timeout 200 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" > "$P/original.log" 2>&1
      timeout 200 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" --tag z --zero-step0-scalar-grads >> "$P/original.log" 2>&1
      if [[ -z "${ZERO0_EAGER_ONLY:-}" ]]; then  # the original compiled too (~8 more minutes)
        timeout 300 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" --compile >> "$P/original.log" 2>&1
        timeout 300 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" --compile --tag zc --zero-step0-scalar-grads >> "$P/original.log" 2>&1
      fi
      grep "step 0 gradient" "$P/original.log"
      python3 "$REPO/bench/anchors/parity_compare.py" "$P" > "$P/compare.txt" 2>&1; tail -12 "$P/compare.txt"
      mv "$P/compare.txt" "$OUT/zero0_compare.txt"; mv "$P/parity.json" "$OUT/zero0_parity.json"; rm -rf "$P" ;;
    graddump)
      # The question the parity gap leaves: at the same weights and batch (step 100 of the parity run), whose
      # bf16 gradients stray further from the fp32 CPU reference, ours or the original's? Per parameter.
      P="$OUT/graddump"; mkdir -p "$P"
      timeout 200 ./parity_train --tokenizer-dir tok --data-dir data/shards --out "$P" --device cuda --depth 6 \
        --seq 512 --batch 16 --steps 200 --batch-lr-scale 0.5 --dump-grads-at 100 > "$P/run.log" 2>&1
      timeout 200 python3 "$REPO/bench/anchors/parity_original.py" "$CARRY/orig" "$P" --grads-at-dump >> "$P/run.log" 2>&1
      summary+=("graddump: $(grep -E 'written' "$P/run.log" | tr '\n' ' ' | cut -c1-300)")
      timeout 300 python3 "$REPO/bench/anchors/grad_compare.py" "$P" cuda > "$OUT/grad_compare.txt" 2>&1
      head -25 "$OUT/grad_compare.txt"; rm -rf "$P" ;;
    gradcheck)
      # Each parameter's GPU gradient against the fp32 CPU model's at the same weights and batch, every 25
      # steps of the parity run (same init, batches and hyperparameters as `parity`).
      P="$OUT/gradcheck_run"; mkdir -p "$P"
      OMP_NUM_THREADS=16 timeout 400 ./parity_train --tokenizer-dir tok --data-dir data/shards --out "$P" --device cuda \
        --depth 6 --seq 512 --batch 16 --steps 200 --batch-lr-scale 0.5 --grad-check-every 25 > "$P/ours.log" 2>&1
      summary+=("gradcheck rc=$? $(grep 'final weights' "$P/ours.log")")
      grep gradcheck "$P/ours.log" | sed -E 's/.*gradcheck/gradcheck/' | cut -c1-260
      mv "$P/gradcheck.jsonl" "$OUT/" 2>/dev/null; rm -rf "$P" ;;
    chatspeed)
      # SFT tokens/s and RL rollouts/s, ours and the original's own scripts (bench/anchors/original_stage.py)
      # on the same d12 weights, tokenizer, task files and config (B=32, T=2048, 524,288 tokens per step for
      # SFT; 2 questions x 16 samples, 256 new tokens for RL). The d12 is a 1-step base model plus 12 SFT
      # steps, so nearly every rollout runs to max_new_tokens in both: the same work per step.
      chat_work "$OUT/chatspeed.log"
      timeout 120 ./nanochat base-train --device-type cuda --depth 12 --max-seq-len 2048 --device-batch-size 32 \
        --total-batch-size 524288 --num-iterations 1 --eval-every -1 --sample-every -1 --core-metric-every -1 \
        --model-tag d12 --data-dir data/shards --tokenizer-dir tok >> "$OUT/chatspeed.log" 2>&1
      python3 "$OS" checkpoint "$CARRY/orig" "$W" "$NANOCHAT_BASE_DIR/base_checkpoints/d12/model_000001.safetensors" \
        base d12 >> "$OUT/chatspeed.log" 2>&1
      SFT=(--model-tag d12 --num-iterations 100 --eval-every -1 --eval-tokens 524288 --chatcore-every -1 \
        --load-optimizer 0 --mmlu-epochs 0)
      timeout 150 ./nanochat chat-sft --device-type cuda --tokenizer-dir tok --data-root "$TD" "${SFT[@]}" \
        > "$OUT/sft_ours.log" 2>&1; summary+=("sft ours rc=$? $(grep -E 'step 00012' "$OUT/sft_ours.log" | cut -c1-170)")
      timeout 240 python3 "$OS" run "$CARRY/orig" "$W" scripts.chat_sft --run dummy "${SFT[@]}" \
        > "$OUT/sft_original.log" 2>&1; summary+=("sft original rc=$? $(grep -E 'step 00012' "$OUT/sft_original.log" | cut -c1-170)")
      if [[ -n "${CHATSPEED_SFT_ONLY:-}" ]]; then  # SFT alone (RL's 19.8x is far past its target)
        cat "$OUT"/chatspeed.log >> "$OUT/sft_original.log"; rm -f "$OUT/chatspeed.log"; rm -rf "$W"; continue
      fi
      python3 "$OS" checkpoint "$CARRY/orig" "$W" "$(ls "$NANOCHAT_BASE_DIR"/chatsft_checkpoints/d12/model_*.safetensors | tail -1)" \
        sft d12 >> "$OUT/chatspeed.log" 2>&1
      RL=(--model-tag d12 --examples-per-step 2 --num-samples 16 --device-batch-size 8 --max-new-tokens 256 \
        --eval-every 1000 --eval-examples 1)
      timeout 120 ./nanochat chat-rl --device-type cuda --tokenizer-dir tok --data-root "$TD" "${RL[@]}" --max-steps 4 \
        2>&1 | python3 "$OS" stamp > "$OUT/rl_ours.log"
      timeout 200 python3 "$OS" run "$CARRY/orig" "$W" scripts.chat_rl --run dummy "${RL[@]}" > "$OUT/rl_original.log" 2>&1
      summary+=("rl: $(grep -c 'Average reward:.*Average sequence' "$OUT/rl_ours.log") ours / $(grep -c 'Average reward:.*Average sequence' "$OUT/rl_original.log") original steps logged")
      cat "$OUT"/chatspeed.log >> "$OUT/sft_original.log"; rm -f "$OUT/chatspeed.log"
      rm -rf "$W" ;;
    realdata)
      # The d12 step on the real shards (Zipf-like token counts, unlike the random-token bench): 30 steps
      # of 65,536 tokens, base-train's own dt per step.
      export NANOCHAT_BASE_DIR="$OUT/realdata"
      timeout 150 ./nanochat base-train --device-type cuda --depth 12 --max-seq-len 2048 --device-batch-size 32 \
        --total-batch-size 65536 --num-iterations 30 --eval-every -1 --sample-every -1 --core-metric-every -1 \
        --save-every -1 --data-dir data/shards --tokenizer-dir tok > "$OUT/realdata.log" 2>&1
      summary+=("realdata d12 rc=$? dt of steps 10-29 (ms): $(grep -oE 'step 000(1[0-9]|2[0-9])/.*dt: [0-9.]+' "$OUT/realdata.log" | grep -oE '[0-9.]+$' | tr '\n' ' ')")
      rm -rf "$OUT/realdata" ;;
    sftprof)
      # Where our SFT step's time goes: chatspeed's config (d12, 524,288 tokens per step), ours only, under
      # nsys when the machine has it; kernel time per step against the step's wall time shows host gaps.
      chat_work "$OUT/sftprof.log"; L="$OUT/sftprof.log"
      timeout 120 ./nanochat base-train --device-type cuda --depth 12 --max-seq-len 2048 --device-batch-size 32 \
        --total-batch-size 524288 --num-iterations 1 --eval-every -1 --sample-every -1 --core-metric-every -1 \
        --model-tag d12 --data-dir data/shards --tokenizer-dir tok >> "$L" 2>&1
      SFT=(./nanochat chat-sft --device-type cuda --tokenizer-dir tok --data-root "$TD" --model-tag d12 --num-iterations 48
        --eval-every -1 --eval-tokens 524288 --chatcore-every -1 --load-optimizer 0 --mmlu-epochs 0)
      NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys 2>/dev/null | head -1)
      if [[ -n "$NSYS" ]]; then
        timeout 200 "$NSYS" profile -o "$W/sft" -t cuda,nvtx,osrt --force-overwrite true "${SFT[@]}" >> "$L" 2>&1
        "$NSYS" stats -r cuda_gpu_kern_sum,cuda_api_sum -f csv -o "$W/sftstats" "$W/sft.nsys-rep" >> "$L" 2>&1
        (cd "$W" && tar -czf "$OUT/sftprof_stats.tar.gz" sftstats*)
        summary+=("sftprof nsys: $(grep -E 'step 0000[2-6]' "$L" | cut -c1-120 | tr '\n' ' ')")
      else
        timeout 120 "${SFT[@]}" >> "$L" 2>&1
        summary+=("sftprof (no nsys): $(grep -E 'step 0000[2-6]' "$L" | cut -c1-120 | tr '\n' ' ')")
      fi
      rm -rf "$W" ;;
    chatparity)
      # chat-eval, ours and the original's (run_categorical_eval / run_generative_eval) on the same SFT
      # checkpoint: a d6 base (300 steps on the shards) + 150 SFT steps; ARC-Easy whole, GSM8K greedy 20
      # (the original's engine takes ~7 s per GSM8K problem here).
      chat_work "$OUT/chatparity.log"
      timeout 200 ./nanochat base-train --device-type cuda --depth 6 --max-seq-len 512 --device-batch-size 16 \
        --total-batch-size 8192 --num-iterations 300 --eval-every -1 --sample-every -1 --core-metric-every -1 \
        --model-tag d6 --data-dir data/shards --tokenizer-dir tok >> "$OUT/chatparity.log" 2>&1
      timeout 200 ./nanochat chat-sft --device-type cuda --tokenizer-dir tok --data-root "$TD" --model-tag d6 \
        --num-iterations 150 --eval-every -1 --eval-tokens 65536 --chatcore-every -1 --mmlu-epochs 0 >> "$OUT/chatparity.log" 2>&1
      ck=$(ls "$NANOCHAT_BASE_DIR"/chatsft_checkpoints/d6/model_*.safetensors | tail -1)
      python3 "$OS" checkpoint "$CARRY/orig" "$W" "$ck" sft d6 >> "$OUT/chatparity.log" 2>&1
      TASKS=("ARC-Easy 100000" "GSM8K 20"); [[ -n "${CHAT_PARITY_ONLY:-}" ]] && TASKS=("$CHAT_PARITY_ONLY")
      for t in "${TASKS[@]}"; do
        set -- $t
        timeout 200 ./nanochat chat-eval -i sft -g d6 --device-type cuda --tokenizer-dir tok --data-root "$TD" \
          -a "$1" -x "$2" ${CHAT_RECORDS:+--records "$OUT/chateval_ours_$1.jsonl"} > "$OUT/chateval_ours_$1.log" 2>&1
        summary+=("chat-eval $1 ours rc=$? $(grep -E 'accuracy|Final' "$OUT/chateval_ours_$1.log" | tail -2 | tr '\n' ' ')")
        timeout 300 python3 "$OS" chateval "$CARRY/orig" "$W" sft d6 "$1" "$2" "$OUT/chateval_original_$1.jsonl" \
          > "$OUT/chateval_original_$1.log" 2>&1
        summary+=("chat-eval $1 original rc=$? $(tail -1 "$OUT/chateval_original_$1.log")")
        [[ -f "$OUT/chateval_ours_$1.jsonl" ]] && python3 "$REPO/bench/anchors/chateval_compare.py" \
          "$OUT/chateval_ours_$1.jsonl" "$OUT/chateval_original_$1.jsonl" > "$OUT/chateval_compare_$1.txt" 2>&1 && \
          summary+=("chat-eval $1 compare: $(head -1 "$OUT/chateval_compare_$1.txt")")
      done
      # One archive: the device hands back only a few files.
      (cd "$OUT" && tar -czf chatparity.tar.gz chatparity.log chateval_* && rm -f chatparity.log chateval_*)
      rm -rf "$W" ;;
    chatd12)
      # #8's pipeline at d12 on the local data: base (200 steps of 65,536 tokens on the three shards) -> mid
      # (v0.1.0 mixture, one epoch) -> SFT (HEAD mixture, one epoch) -> RL (GSM8K, 8 steps), with GSM8K and
      # SpellingBee measured by chat-eval after every stage (greedy, 256 new tokens).
      chat_work "$OUT/chatd12.log"; L="$OUT/chatd12.log"
      STAGE=(--tokenizer-dir tok --data-root "$TD" --word-list data/words --model-tag d12 \
             --identity-conversations "$REPO/data/identity_conversations.jsonl")
      ceval() { d12_chat_eval "$1" 200 150; }
      d12_base_train 150 --eval-every 100 --eval-tokens 524288
      summary+=("d12 base-train rc=$? $(grep -E 'Validation bpb' "$L" | tail -1 | cut -c1-100)"); ceval base
      timeout 150 ./nanochat mid-train --device-type cuda "${STAGE[@]}" --skip-missing-tasks >> "$L" 2>&1
      summary+=("d12 mid-train rc=$? $(grep -E 'Validation bpb' "$L" | tail -1 | cut -c1-100)"); ceval mid
      timeout 150 ./nanochat chat-sft --device-type cuda "${STAGE[@]}" --source-root "$NANOCHAT_BASE_DIR/mid_checkpoints" \
        --mmlu-epochs 0 --chatcore-every -1 >> "$L" 2>&1
      summary+=("d12 chat-sft rc=$? $(grep -E 'Validation bpb' "$L" | tail -1 | cut -c1-100)"); ceval sft
      timeout 200 ./nanochat chat-rl --device-type cuda --tokenizer-dir tok --data-root "$TD" --model-tag d12 \
        --max-steps 8 --eval-every 100 --eval-examples 64 >> "$L" 2>&1
      summary+=("d12 chat-rl rc=$? $(grep -E 'Average reward' "$L" | tail -1 | cut -c1-120)"); ceval rl
      rm -rf "$W" ;;
    rlrise)
      # Does RL raise GSM8K over SFT here? d12 base (200 steps on the three shards) -> SFT (HEAD mixture) ->
      # 30 RL steps (the original's defaults: 16 questions x 16 samples), greedy GSM8K (300) and SpellingBee
      # (200) after SFT and after RL. Fits one 10-minute device call.
      chat_work "$OUT/rlrise.log"; L="$OUT/rlrise.log"
      ceval() { d12_chat_eval "$1" 300 100; }
      d12_base_train 90 --eval-every -1
      timeout 100 ./nanochat chat-sft --device-type cuda --tokenizer-dir tok --data-root "$TD" --word-list data/words \
        --model-tag d12 --identity-conversations "$REPO/data/identity_conversations.jsonl" --mmlu-epochs 0 \
        --chatcore-every -1 --eval-every -1 >> "$L" 2>&1
      summary+=("d12 chat-sft rc=$?"); ceval sft
      timeout 220 ./nanochat chat-rl --device-type cuda --tokenizer-dir tok --data-root "$TD" --model-tag d12 \
        --max-steps 30 --eval-every 1000 --eval-examples 16 >> "$L" 2>&1
      summary+=("d12 chat-rl rc=$? $(grep -E 'Average reward' "$L" | awk 'NR==1 || NR%10==0' | cut -c1-90 | tr '\n' ' ')"); ceval rl
      rm -rf "$W" ;;
    multigpu)
      # On a 2-GPU lease: base-eval (CORE) and chat-eval under `nanochat launch --nproc-per-node 2` against one
      # process (same numbers expected; nvidia-smi sampled to see one process per GPU), and chat-sft with
      # ChatCORE every 50 steps on a d6.
      chat_work "$OUT/multigpu.log"; L="$OUT/multigpu.log"
      mkdir -p "$NANOCHAT_BASE_DIR"; cp -r data/humaneval "$TD/humaneval"; cp -r data/core-eval-full "$NANOCHAT_BASE_DIR/eval_bundle"
      timeout 120 ./nanochat base-train --device-type cuda --depth 6 --max-seq-len 512 --device-batch-size 16 \
        --total-batch-size 8192 --num-iterations 200 --eval-every -1 --sample-every -1 --core-metric-every -1 \
        --model-tag d6 --data-dir data/shards --tokenizer-dir tok >> "$L" 2>&1
      BE=(base-eval --device-type cuda --eval core --model-tag d6 --max-per-task 200 --tokenizer-dir tok)
      timeout 200 ./nanochat "${BE[@]}" > "$OUT/core_1rank.log" 2>&1; cp "$NANOCHAT_BASE_DIR"/base_eval/*.csv "$OUT/core_1rank.csv"
      nvidia-smi --query-compute-apps=pid,gpu_bus_id --format=csv,noheader -lms 500 > "$OUT/gpu_apps.txt" 2>&1 & SMI=$!
      timeout 200 ./nanochat launch --nproc-per-node 2 -- "${BE[@]}" > "$OUT/core_2rank.log" 2>&1; rc=$?
      kill $SMI 2>/dev/null; cp "$NANOCHAT_BASE_DIR"/base_eval/*.csv "$OUT/core_2rank.csv"
      cmp -s "$OUT/core_1rank.csv" "$OUT/core_2rank.csv" && same=identical || same=DIFFERENT
      summary+=("CORE 1 rank: $(grep -E 'CORE' "$OUT/core_1rank.log" | tail -1 | cut -c1-90)")
      summary+=("CORE 2 ranks rc=$rc: CSV $same; GPUs used: $(cut -d, -f2 "$OUT/gpu_apps.txt" | sort -u | tr '\n' ' ')")
      CE=(chat-eval -i base -g d6 --device-type cuda --tokenizer-dir tok --data-root "$TD" -a "ARC-Easy|GSM8K" -x 64)
      timeout 200 ./nanochat "${CE[@]}" > "$OUT/chat_1rank.log" 2>&1
      timeout 200 ./nanochat launch --nproc-per-node 2 -- "${CE[@]}" > "$OUT/chat_2rank.log" 2>&1; rc=$?
      a=$(grep -E '^(Final|.* accuracy)' "$OUT/chat_1rank.log" | tr '\n' ' '); b=$(grep -E '^(Final|.* accuracy)' "$OUT/chat_2rank.log" | tr '\n' ' ')
      [[ -n "$a" && "$a" == "$b" ]] && same=identical || same=DIFFERENT
      summary+=("chat-eval 2 ranks rc=$rc: $same ($a)")
      timeout 240 ./nanochat chat-sft --device-type cuda --tokenizer-dir tok --data-root "$TD" --model-tag d6 \
        --mmlu-epochs 0 --num-iterations 240 --eval-every -1 --eval-tokens 65536 --chatcore-every 50 \
        --chatcore-max-cat 300 --chatcore-max-sample 16 >> "$L" 2>&1
      summary+=("chat-sft with ChatCORE rc=$?: $(grep -E 'ChatCORE' "$L" | tr '\n' ' ' | cut -c1-400)")
      (cd "$OUT" && tar -czf multigpu.tar.gz multigpu.log core_* chat_* gpu_apps.txt && rm -f multigpu.log core_* chat_* gpu_apps.txt)
      rm -rf "$W" ;;
    *) summary+=("unknown stage $stage") ;;
  esac
done
printf '%s\n' "${summary[@]}"
