#!/usr/bin/env bash
# On the GPU machine (16 cores; tiktoken, HF tokenizers and pyarrow installed): trains our tokenizer
# and HF's BpeTrainer on the same text, checks our ids against tiktoken's on held-out text, and times
# encoding with 1 and 16 threads. Needs .carry/ from prepare_carry.sh. Writes logs to $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/unpack_carry.sh
export NANOCHAT_NO_PROGRESS=1 PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
BIN=.carry/bin; A=bench/anchors/tokenizer_anchors.py
W=/tmp/tokbench; rm -rf $W; mkdir -p $W
NT=$(nproc)
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $NT"
python3 $A corpus --data .carry/data --out $W | tee $OUT/corpus.json

for V in 32768 4096; do
  /usr/bin/time -f "%e" -o $W/ours_time_$V $BIN/nanochat tok-train --input $W/train.jsonl --vocab-size $V --output $W/tok_$V > $OUT/ours_train_$V.log 2>&1
  echo "{\"impl\": \"nanochat.cpp\", \"vocab\": $V, \"seconds\": $(cat $W/ours_time_$V)}" | tee $OUT/ours_train_$V.json
  python3 $A train --corpus $W/train.jsonl --vocab $V | tee $OUT/hf_train_$V.json
done

for C in heldout train; do
  for T in 1 $NT; do
    $BIN/tokenizer_encode_bench --tokenizer $W/tok_32768 --input $W/$C.jsonl --threads $T --repeat 5 --ids-out $W/ours_${C}_$T.ids | tee $OUT/ours_encode_${C}_$T.json
    python3 $A encode --tokenizer $W/tok_32768 --corpus $W/$C.jsonl --threads $T --repeat 5 --ids-out $W/tt_${C}_$T.ids | tee $OUT/tiktoken_encode_${C}_$T.json
  done
  python3 $A compare --a $W/ours_${C}_1.ids --b $W/tt_${C}_1.ids | tee $OUT/compare_$C.json
done
cp $W/tok_32768/tokenizer.json $OUT/ 2>/dev/null
python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
j = lambda p: json.load(open(os.path.join(out, p)))
print("\n== tokenizer training (time to vocab, same text) ==")
for v in (32768, 4096):
    o, h = j(f"ours_train_{v}.json"), j(f"hf_train_{v}.json")
    print(f"vocab {v}: nanochat.cpp {o['seconds']:.2f}s  HF BpeTrainer {h['seconds']:.2f}s  ratio {h['seconds']/o['seconds']:.2f}x  ({h['bytes']/1e6:.1f} MB)")
print("== encoding throughput (MB/s, median of 5) ==")
for c in ("heldout", "train"):
    for p in sorted(glob.glob(os.path.join(out, f"ours_encode_{c}_*.json"))):
        t = p.rsplit("_", 1)[1][:-5]
        o, tt = j(f"ours_encode_{c}_{t}.json"), j(f"tiktoken_encode_{c}_{t}.json")
        print(f"{c:8} threads {t:>2}: nanochat.cpp {o['mb_per_s']:8.2f}  tiktoken {tt['mb_per_s']:8.2f}  ratio {o['mb_per_s']/tt['mb_per_s']:.2f}x  tokens {o['tokens']} vs {tt['tokens']}")
    cmp = j(f"compare_{c}.json")
    print(f"{c:8} ids identical to tiktoken: {cmp['docs_differing'] == 0} ({cmp['docs_a']} docs, {cmp['docs_differing']} differ)")
PY
