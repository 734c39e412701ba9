#!/usr/bin/env bash
# End-to-end checks of the nanochat binary. Usage: test_cli.sh path/to/nanochat
source "$(dirname "$0")/cli_test_lib.sh" "$1"

expect "help lists commands" 0 "tok-train" -- "$BIN" --help
expect "no command is a usage error" 2 "usage: nanochat" -- "$BIN"
expect "unknown command" 2 "unknown command 'bogus'" -- "$BIN" bogus
expect "version" 0 "nanochat.cpp" -- "$BIN" --version
expect "subcommand help shows defaults" 0 "--vocab-size X.*default: 32768" -- "$BIN" tok-train --help
expect "unknown flag names it" 2 "unrecognized argument: '--bogus'" -- "$BIN" tok-train --bogus=1
expect "underscore spelling hint" 2 "did you mean '--vocab-size'" -- "$BIN" tok-train --vocab_size=512
expect "bad int names the flag" 2 "argument --vocab-size: invalid int value: 'abc'" -- "$BIN" tok-train --vocab-size=abc
expect "too small vocab" 2 "must be at least 265" -- "$BIN" tok-train --vocab-size=100
expect "missing value" 2 "expected one argument" -- "$BIN" tok-train --vocab-size
expect "missing input names the path" 1 "input $WORK/nope does not exist" -- "$BIN" tok-train --input "$WORK/nope"
expect "no data yet names the fix" 2 "nanochat dataset" -- "$BIN" tok-train

# A tiny corpus made here, so this part never depends on shared data.
mkdir -p "$WORK/corpus"
for i in $(seq 1 200); do
  printf 'The quick brown fox %d jumps over the lazy dog. Numbers: 123, 4567.\n\nIt'"'"'s a test of the tokenizer, isn'"'"'t it?\n\n' "$i"
done > "$WORK/corpus/a.txt"
printf '{"text": "hello world from jsonl"}\n{"text": "second document"}\n' > "$WORK/corpus/b.jsonl"
expect "tok-train on text+jsonl" 0 "saved tokenizer \(300 tokens\)" -- "$BIN" tok-train --input "$WORK/corpus" --vocab-size=300
for f in tokenizer.json tokenizer.tiktoken token_bytes.npy; do
  if [[ -s "$NANOCHAT_BASE_DIR/tokenizer/$f" ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: missing $f"; fi
done
expect "tok-eval reports our vocab" 0 "Ours: 300" -- "$BIN" tok-eval
expect "tok-eval without references says so" 0 "GPT-2: not available" -- "$BIN" tok-eval
printf '{"text": 5}\n' > "$WORK/bad.jsonl"
expect "bad jsonl names file and line" 1 "bad.jsonl:1: missing string field 'text'" -- "$BIN" tok-train --input "$WORK/bad.jsonl" --vocab-size=300
expect "max-chars stops early" 0 "read 1 documents" -- "$BIN" tok-train --input "$WORK/corpus/a.txt" --vocab-size=300 --max-chars=10 --output "$WORK/tok2"

# dataset: local text -> shards in the default directory, which tok-train then uses by default.
expect "dataset bad choice" 2 "invalid choice: 'pile'" -- "$BIN" dataset --dataset pile
expect "dataset from text" 0 "wrote [0-9]+ shard\(s\)" -- "$BIN" dataset --from-text "$WORK/corpus/a.txt" --shard-chars 2000
expect "dataset refuses to overwrite shards" 1 "already holds shards" -- "$BIN" dataset --from-text "$WORK/corpus/a.txt"
expect "tok-train uses the default shards" 0 "saved tokenizer \(300 tokens\)" -- "$BIN" tok-train --vocab-size=300 --output "$WORK/tok3"

if [[ -d "$SHARED/data/shards" ]]; then
  expect "tok-train on parquet shards" 0 "saved tokenizer \(4096 tokens\)" -- "$BIN" tok-train --input "$SHARED/data/shards" --vocab-size=4096 --output "$WORK/tok_shards"
  # the val shard (the last) and SOURCE.md are not training data: 4625 + 9611 documents
  expect "tok-train reads only the train shards" 0 "read 14236 documents" -- "$BIN" tok-train --input "$SHARED/data/shards" --vocab-size=300 --output "$WORK/tok_small"
  expect "tok-eval with shard rows" 0 "climbmix-val" -- "$BIN" tok-eval --tokenizer "$WORK/tok_shards" --shards "$SHARED/data/shards"
else
  echo "skipping shard tests: $SHARED/data/shards is missing (set NANOCHAT_SHARED)"
fi
# dataset download from a loopback HTTP server (python3's http.server), with a missing shard.
if [[ -d "$SHARED/data/shards" ]] && command -v python3 >/dev/null && command -v curl >/dev/null; then
  mkdir -p "$WORK/www"
  cp "$SHARED/data/shards/shard_00000.parquet" "$WORK/www/shard_00000.parquet"
  cp "$SHARED/data/shards/shard_00002.parquet" "$WORK/www/shard_06542.parquet"
  printf 'not parquet' > "$WORK/www/shard_00001.parquet"
  PORT=$((20000 + RANDOM % 20000))
  python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
  SERVER=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
  export NANOCHAT_DATASET_BASE_URL="http://127.0.0.1:$PORT"
  expect "dataset download" 0 "Downloaded: 2/2 shards" -- "$BIN" dataset -n 1 --output "$WORK/dl"
  expect "dataset skips existing" 0 "2 already present" -- "$BIN" dataset -n 1 --output "$WORK/dl"
  expect "corrupt shard fails verification" 1 "failed verification" -- "$BIN" dataset -n 2 --output "$WORK/dl" --retry-backoff 0.01
  expect "missing shard is an HTTP 404" 1 "HTTP 404" -- "$BIN" dataset -n 4 --output "$WORK/dl" --retry-backoff 0.01
  if [[ ! -e "$WORK/dl/shard_00001.parquet" && ! -e "$WORK/dl/shard_00001.parquet.tmp" ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: corrupt download left a file"; fi
  unset NANOCHAT_DATASET_BASE_URL
  kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null
else
  echo "skipping download test: needs $SHARED/data/shards, python3 and curl"
fi

# base-train: a depth-2 model for a handful of steps on the shared shards (a few seconds on one core).
if [[ -d "$SHARED/data/shards" && -d "$WORK/tok_small" ]]; then
  TRAIN=(base-train --tokenizer-dir "$WORK/tok_small" --data-dir "$SHARED/data/shards" --depth=2 --aspect-ratio=32
         --head-dim=32 --max-seq-len=64 --device-batch-size=4 --total-batch-size=256 --core-metric-every=-1
         --eval-tokens=512 --warmup-steps=2 --loader-threads=1 --model-tag=cli)
  expect "base-train trains, evaluates and samples" 0 "Minimum validation bpb" -- "$BIN" "${TRAIN[@]}" --num-iterations=6 --eval-every=3 --save-every=3 --sample-every=6
  for f in model_000003.safetensors meta_000003.json optim_000003_rank0.safetensors model_000006.safetensors meta_000006.json optim_000006_rank0.safetensors; do
    if [[ -s "$NANOCHAT_BASE_DIR/base_checkpoints/cli/$f" ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: base-train did not write $f"; fi
  done
  expect "base-train resumes" 0 "step 00005/00006" -- "$BIN" "${TRAIN[@]}" --num-iterations=6 --eval-every=-1 --resume-from-step=3
  if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > /dev/null 2>&1; then
    expect "base-train on cuda without a GPU names the flag" 1 "--device-type cuda:" -- "$BIN" "${TRAIN[@]}" --device-type=cuda --num-iterations=1
  fi
  expect "base-train --fp8 on the cpu" 1 "FP8 training is not implemented" -- "$BIN" "${TRAIN[@]}" --fp8 --num-iterations=1
  expect "base-train batch assertion" 2 "total_batch_size \(1000\) must be a multiple of 256" -- "$BIN" "${TRAIN[@]}" --total-batch-size=1000 --num-iterations=1
  # chat-cli on the checkpoint just written: one-shot prompt, and an interactive session on stdin.
  CHAT=(chat-cli -i base -g cli --tokenizer-dir "$WORK/tok_small" -t 0 -m 8)
  expect "chat-cli one-shot" 0 "Assistant: " -- "$BIN" "${CHAT[@]}" -p "Hello"
  # "quit" wrapped in ideographic spaces (U+3000): Python's strip() removes them, as the original's loop does.
  out="$(printf 'hi\nclear\n\n\xe3\x80\x80quit\xe3\x80\x80\n' | "$BIN" "${CHAT[@]}" 2>&1)"; rc=$?
  # One reply only: the padded "quit" ends the session instead of being sent as a message.
  if [[ $rc -eq 0 ]] && grep -q "Conversation cleared." <<<"$out" && grep -q "Goodbye!" <<<"$out" && ! grep -q "<|" <<<"$out" \
     && [[ $(grep -o "Assistant:" <<<"$out" | wc -l) -eq 1 ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: chat-cli interactive session (exit $rc)"; echo "$out" | tail -5 | sed 's/^/    /'
  fi
  # base-eval on the same checkpoint: CORE on the shared bundle (18 of 22 task files; 4 records per task
  # leave the 10-shot tasks unfit) is a labelled partial CORE and writes the CSV; bpb and samples run too.
  if [[ -d "$SHARED/data/core-eval" ]]; then
    EVAL=(base-eval -g cli --tokenizer-dir "$WORK/tok_small")
    expect "base-eval core prints a partial CORE" 0 "CORE metric \(partial, [0-9]+/22 tasks\): -?[0-9]+\.[0-9]{4}" -- "$BIN" "${EVAL[@]}" --eval core --max-per-task 4 --bundle-dir "$SHARED/data/core-eval"
    csv="$NANOCHAT_BASE_DIR/base_eval/base_model_000006.csv"
    if [[ -s "$csv" ]] && head -1 "$csv" | grep -q "^Task " && grep -q "^copa " "$csv" && tail -1 "$csv" | grep -q "^CORE (partial"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); echo "FAIL: base-eval did not write $csv as expected"
    fi
    expect "base-eval names missing tasks" 0 "missing data: hellaswag_zeroshot, hellaswag, squad, coqa" -- "$BIN" "${EVAL[@]}" --eval core --max-per-task 4 --bundle-dir "$SHARED/data/core-eval"
    expect "base-eval bpb and samples" 0 "val bpb: [0-9]+\.[0-9]{6}" -- "$BIN" "${EVAL[@]}" --eval sample,bpb --data-dir "$SHARED/data/shards" --split-tokens 1024 --device-batch-size 4
    expect "base-eval bad mode" 2 "argument --eval: invalid choice: 'bogus'" -- "$BIN" "${EVAL[@]}" --eval core,bogus
    # A missing bundle is downloaded (NANOCHAT_EVAL_BUNDLE_URL, default the original's S3 zip); an
    # unreachable one is a clear error. file:// keeps the test offline and quick.
    expect "base-eval missing bundle" 1 "CORE eval bundle .* not found" -- env NANOCHAT_EVAL_BUNDLE_URL="file://$WORK/nope.zip" "$BIN" "${EVAL[@]}" --eval core --bundle-dir "$WORK/nope"
    # chat-eval on the base checkpoint (smoke test): generative GSM8K and categorical MMLU print Final lines.
    CEVAL=(chat-eval -i base -g cli --tokenizer-dir "$WORK/tok_small" --data-root "$SHARED/data")
    expect "chat-eval GSM8K" 0 "Final: [0-9]+/2 \([0-9]+\.[0-9]{2}%\)" -- "$BIN" "${CEVAL[@]}" -a GSM8K -x 2 -m 8
    expect "chat-eval MMLU" 0 "Final: [0-9]+/4 \([0-9]+\.[0-9]{2}%\)" -- "$BIN" "${CEVAL[@]}" -a MMLU -x 4
    expect "chat-eval unknown task" 2 "unknown task 'Bogus'" -- "$BIN" "${CEVAL[@]}" -a "GSM8K|Bogus"
    # SpellingBee (v0.1.0's extra task): generative over a word list, named explicitly; a missing list is named.
    printf 'apple\nbanana\ncherry\n' > "$WORK/words.txt"
    expect "chat-eval SpellingBee" 0 "SpellingBee accuracy: [0-9]+\.[0-9]{2}%" -- "$BIN" "${CEVAL[@]}" -a SpellingBee -x 2 -m 8 \
      --word-list "$WORK/words.txt"
    expect "chat-eval SpellingBee missing word list" 1 "no/such/words" -- "$BIN" "${CEVAL[@]}" -a SpellingBee -x 1 \
      --word-list "$WORK/no/such/words"
    # --records: one line per judged problem, and its correct ones are the Final line's numerator.
    out="$("$BIN" "${CEVAL[@]}" -a MMLU -x 4 -b 3 --records "$WORK/records.jsonl" 2>&1)"
    final="$(grep -oE 'Final: [0-9]+/4' <<<"$out" | grep -oE '[0-9]+/' | tr -d /)"
    lines="$(wc -l < "$WORK/records.jsonl" 2>/dev/null || echo 0)"
    correct="$(grep -c '"correct":true' "$WORK/records.jsonl" 2>/dev/null)"
    idx="$(grep -oE '"i":[0-9]+' "$WORK/records.jsonl" 2>/dev/null | cut -d: -f2 | tr '\n' ' ')"
    if [[ "$lines" == 4 && -n "$final" && "$correct" == "$final" && "$idx" == "0 1 2 3 " ]]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); echo "FAIL: chat-eval --records (lines $lines, correct $correct, final '$final', i: $idx)"; echo "$out" | tail -5 | sed 's/^/    /'
    fi
    expect "chat-eval --records unwritable" 1 "--records: cannot write" -- "$BIN" "${CEVAL[@]}" -a MMLU -x 1 \
      --records "$WORK/no/such/dir/r.jsonl"
  fi
  out="$("$BIN" infer-bench -i base -g cli --tokenizer-dir "$WORK/tok_small" --prompt-tokens 16 --decode-tokens 4 --batch-sizes 1,2 2>&1)"; rc=$?
  if [[ $rc -eq 0 ]] && tail -1 <<<"$out" | python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); assert [r["batch_size"] for r in j["sweep"]]==[1,2] and j["prompt_tokens"]==16 and j["peak_bandwidth_bytes_per_sec"] is None' 2>/dev/null; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: infer-bench JSON line (exit $rc)"; echo "$out" | tail -3 | sed 's/^/    /'
  fi
  expect "infer-bench bad batch sizes" 2 "batch sizes must be positive" -- "$BIN" infer-bench -i base -g cli --batch-sizes 1,0
  expect "chat-cli missing checkpoints" 1 "no checkpoints in" -- "$BIN" chat-cli -i sft -p hi
  expect "chat-cli bad source" 2 "invalid choice: 'mid'" -- "$BIN" chat-cli -i mid -p hi
  # chat-sft and mid-train on the cli checkpoint: FastChat conversations stand in for SmolTalk, GSM8K and
  # MMLU test from shared data; MMLU auxiliary_train is absent, so the run needs --skip-missing-tasks.
  mkdir -p "$WORK/task_data/smoltalk"
  ln -s "$SHARED/data/chat-conversations/dummy_conversation.json" "$WORK/task_data/smoltalk/train.json"
  ln -s "$SHARED/data/chat-conversations/dummy_conversation.json" "$WORK/task_data/smoltalk/test.json"
  ln -s "$SHARED/data/gsm8k" "$WORK/task_data/gsm8k"
  ln -s "$SHARED/data/mmlu" "$WORK/task_data/mmlu"
  SFT=(--model-tag=cli --tokenizer-dir "$WORK/tok_small" --data-root "$WORK/task_data" --eval-tokens=512
       --max-seq-len=256 --device-batch-size=1 --total-batch-size=256)
  expect "chat-sft names missing task data" 1 "MMLU\(auxiliary_train\).*" -- "$BIN" chat-sft "${SFT[@]}" --num-iterations=3
  expect "chat-sft trains and saves" 0 "Validation bpb" -- "$BIN" chat-sft "${SFT[@]}" --skip-missing-tasks --num-iterations=5 --chatcore-every=-1 --eval-every=2
  [[ -s "$NANOCHAT_BASE_DIR/chatsft_checkpoints/cli/model_000004.safetensors" ]] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: chat-sft did not write its checkpoint"; }
  # chat-rl on that SFT checkpoint with GSM8K from shared data: two steps, pass@k at both, the last saved.
  RL=(chat-rl --model-tag=cli --tokenizer-dir "$WORK/tok_small" --data-root "$WORK/task_data" --device-type=cpu
      --examples-per-step=1 --num-samples=2 --device-batch-size=2 --max-new-tokens=8 --eval-every=1 --eval-examples=1)
  expect "chat-rl trains, evaluates and saves" 0 "Step 1 \| Pass@1: [0-9.]+, Pass@2: [0-9.]+" -- "$BIN" "${RL[@]}" --max-steps=2
  [[ -s "$NANOCHAT_BASE_DIR/chatrl_checkpoints/cli/model_000001.safetensors" ]] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: chat-rl did not write its checkpoint"; }
  expect "chat-rl rejects too few samples" 2 "--num-samples 1 is less than --device-batch-size 2" -- "$BIN" "${RL[@]}" --num-samples=1
  expect "mid-train trains" 0 "step 00002" -- "$BIN" mid-train "${SFT[@]}" --skip-missing-tasks --num-iterations=3 --eval-every=-1 --word-list "$WORK/nope.txt"
  expect "base-train stops on a diverged loss" 1 "training diverged at step [0-9]+" -- "$BIN" "${TRAIN[@]}" --num-iterations=20 --eval-every=-1 --embedding-lr=1e30 --unembedding-lr=1e30 --matrix-lr=1e30 --scalar-lr=1e30 --model-tag=nan
else
  echo "skipping base-train tests: $SHARED/data/shards is missing (set NANOCHAT_SHARED)"
fi

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
