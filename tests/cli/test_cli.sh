#!/usr/bin/env bash
# End-to-end checks of the nanochat binary. Usage: test_cli.sh path/to/nanochat
set -uo pipefail
BIN="$1"
SHARED="${NANOCHAT_SHARED:-${NANOCHAT_SOURCE_DIR:-.}/../shared}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export NANOCHAT_BASE_DIR="$WORK/base"
passed=0; failed=0

# expect <name> <expected exit code> <regex the combined output must match> -- command...
expect() {
  local name="$1" code="$2" pattern="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [[ $rc -eq $code ]] && grep -qE -- "$pattern" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name (exit $rc, wanted $code; pattern '$pattern')"
    echo "$out" | tail -20 | sed 's/^/    /'
  fi
}

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

if [[ -d "$SHARED/data/shards" ]]; then
  expect "tok-train on parquet shards" 0 "saved tokenizer \(4096 tokens\)" -- "$BIN" tok-train --input "$SHARED/data/shards" --vocab-size=4096 --output "$WORK/tok_shards"
  # the val shard (the last) and SOURCE.md are not training data: 4625 + 9611 documents
  expect "tok-train reads only the train shards" 0 "read 14236 documents" -- "$BIN" tok-train --input "$SHARED/data/shards" --vocab-size=300 --output "$WORK/tok_small"
  expect "tok-eval with shard rows" 0 "climbmix-val" -- "$BIN" tok-eval --tokenizer "$WORK/tok_shards" --shards "$SHARED/data/shards"
else
  echo "skipping shard tests: $SHARED/data/shards is missing (set NANOCHAT_SHARED)"
fi

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
