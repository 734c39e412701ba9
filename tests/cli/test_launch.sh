#!/usr/bin/env bash
# End-to-end checks of `nanochat launch`: base-eval and chat-eval split across ranks print exactly what
# one process prints (CORE CSV, Final lines), rank 0 alone reports, and a failing rank fails the launch.
# Usage: test_launch.sh path/to/nanochat
source "$(dirname "$0")/cli_test_lib.sh" "$1"

expect "launch needs a command" 2 "expected '--' and the command to run" -- "$BIN" launch --nproc-per-node 2
expect "launch refuses commands that do not split work" 2 "'base-train' does not split its work across ranks" -- \
  "$BIN" launch --nproc-per-node 2 -- base-train
expect "launch checks --nproc-per-node" 2 "argument --nproc-per-node: must be in \[1, 1024\], got 0" -- \
  "$BIN" launch --nproc-per-node 0 -- base-eval
expect "every rank failing fails the launch with its status" 2 "launch: rank [01] \(pid [0-9]+\) exited with status 2" -- \
  "$BIN" launch --nproc-per-node 2 -- base-eval --eval bogus
expect "a bad timeout variable is named on every rank" 1 "NANOCHAT_DIST_TIMEOUT_S='x'" -- \
  env NANOCHAT_DIST_TIMEOUT_S=x "$BIN" launch --nproc-per-node 2 -- base-eval --eval core

if [[ ! -d "$SHARED/data/shards" || ! -d "$SHARED/data/core-eval" ]]; then
  echo "skipping launch evaluation tests: $SHARED/data/shards or core-eval is missing (set NANOCHAT_SHARED)"
  echo "launch tests: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]; exit
fi

# A tiny model: byte-level tokenizer (300 tokens) and a depth-2 GPT trained for 6 steps.
expect "tokenizer" 0 "saved tokenizer" -- "$BIN" tok-train --input "$SHARED/data/shards" --vocab-size=300 --output "$WORK/tok"
expect "tiny model" 0 "Saved model parameters" -- "$BIN" base-train --tokenizer-dir "$WORK/tok" --data-dir "$SHARED/data/shards" \
  --depth=2 --aspect-ratio=32 --head-dim=32 --max-seq-len=64 --device-batch-size=4 --total-batch-size=256 \
  --core-metric-every=-1 --eval-tokens=512 --warmup-steps=2 --loader-threads=1 --model-tag=cli --num-iterations=6 \
  --eval-every=-1 --sample-every=-1

# CORE: the same CSV and the same console report (timings aside) from 1, 2 and 3 ranks.
EVAL=(base-eval -g cli --tokenizer-dir "$WORK/tok" --eval core --max-per-task 16 --bundle-dir "$SHARED/data/core-eval")
CSV="$NANOCHAT_BASE_DIR/base_eval/base_model_000006.csv"
"$BIN" "${EVAL[@]}" > "$WORK/core1.txt" 2> "$WORK/core1.err" || bad "single-process base-eval" "$(cat "$WORK/core1.err")"
cp "$CSV" "$WORK/core1.csv" 2>/dev/null
grep -qE "^CORE metric \(partial, [0-9]+/22 tasks\): -?[0-9.]+" "$WORK/core1.txt" && ok || bad "single-process CORE line" "$(cat "$WORK/core1.txt")"
for n in 2 3; do
  rm -f "$CSV"
  if "$BIN" launch --nproc-per-node "$n" -- "${EVAL[@]}" > "$WORK/core$n.txt" 2> "$WORK/core$n.err"; then ok; else bad "launch $n base-eval core" "$(cat "$WORK/core$n.err")"; fi
  cmp -s "$WORK/core1.csv" "$CSV" && ok || bad "$n ranks write the single-process CORE CSV" "$(diff "$WORK/core1.csv" "$CSV")"
  d="$(diff <(sed 's/time: .*//' "$WORK/core1.txt") <(sed 's/time: .*//' "$WORK/core$n.txt"))"
  [[ -z "$d" ]] && ok || bad "$n ranks print the single-process CORE report once" "$d"
  grep -q "\[rank 1\] .*INFO\|INFO .*\[rank 1\]" "$WORK/core$n.err" && bad "rank 1 logged info messages" "$(cat "$WORK/core$n.err")" || ok
done

# bpb and samples: rank 0 alone prints them (the figures differ from one process: ranks read other row groups).
out="$("$BIN" launch --nproc-per-node 2 -- base-eval -g cli --tokenizer-dir "$WORK/tok" --eval sample,bpb \
       --data-dir "$SHARED/data/shards" --split-tokens 1024 --device-batch-size 4 2>&1)"; rc=$?
if [[ $rc -eq 0 && $(grep -c "^val bpb: [0-9]*\.[0-9]\{6\}$" <<<"$out") -eq 1 && $(grep -c "^train bpb: " <<<"$out") -eq 1 \
      && $(grep -c "^Conditioned samples:" <<<"$out") -eq 1 ]]; then ok; else bad "launch 2 bpb+samples printed once by rank 0 (exit $rc)" "$out"; fi
expect "bpb steps count every rank's tokens" 2 "less than one step of 4 x 64 x 2 rank\(s\) = 512 tokens" -- \
  "$BIN" launch --nproc-per-node 2 -- base-eval -g cli --tokenizer-dir "$WORK/tok" --eval bpb --data-dir "$SHARED/data/shards" \
  --split-tokens 300 --device-batch-size 4

# chat-eval: the same Final lines from one process and from 2 and 3 ranks (generative GSM8K, categorical ARC
# with batches split across ranks, MMLU one problem per batch).
for args in "-a GSM8K|ARC-Easy|ARC-Challenge -x 9 -m 8 -b 2" "-a MMLU -x 4 -b 1"; do
  # shellcheck disable=SC2086
  IFS=' ' read -r -a A <<<"$args"
  CEVAL=(chat-eval -i base -g cli --tokenizer-dir "$WORK/tok" --data-root "$SHARED/data" "${A[@]}")
  one="$("$BIN" "${CEVAL[@]}" 2>/dev/null | grep -E "^(Final|.* accuracy):")"
  [[ -n "$one" ]] && ok || bad "single-process chat-eval $args printed no Final line"
  for n in 2 3; do
    many="$("$BIN" launch --nproc-per-node "$n" -- "${CEVAL[@]}" 2>"$WORK/ce.err")"; rc=$?
    [[ $rc -eq 0 ]] && ok || bad "launch $n chat-eval $args (exit $rc)" "$(cat "$WORK/ce.err")"
    [[ "$(grep -E "^(Final|.* accuracy):" <<<"$many")" == "$one" ]] && ok || bad "launch $n chat-eval $args: results differ" "$one
--- vs ---
$many"
  done
done
# Every rank reports its own generative progress, as the original's "Rank r | ..." lines.
many="$("$BIN" launch --nproc-per-node 2 -- chat-eval -i base -g cli --tokenizer-dir "$WORK/tok" --data-root "$SHARED/data" -a GSM8K -x 3 -m 4 2>/dev/null)"
grep -q "Rank 0 | " <<<"$many" && grep -q "Rank 1 | " <<<"$many" && ok || bad "progress lines of both ranks" "$many"

# One rank failing (rank 0 cannot listen: the port is taken) stops the others and fails the launch.
if command -v python3 >/dev/null; then
  PORT_FILE="$WORK/port"
  python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("0.0.0.0",0)); s.listen(1); open(sys.argv[1],"w").write(str(s.getsockname()[1])); time.sleep(60)' "$PORT_FILE" &
  HOLDER=$!
  for _ in $(seq 1 50); do [[ -s "$PORT_FILE" ]] && break; sleep 0.1; done
  start=$SECONDS
  expect "a failing rank fails the launch and names the rank" 1 "launch: rank 0 \(pid [0-9]+\) exited with status 1; stopping the other ranks" -- \
    "$BIN" launch --nproc-per-node 2 --master-port "$(cat "$PORT_FILE")" -- "${EVAL[@]}"
  (( SECONDS - start < 20 )) && ok || bad "the failed launch took $((SECONDS - start)) s"
  kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null
else
  echo "skipping the busy-port test: needs python3"
fi

echo "launch tests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
