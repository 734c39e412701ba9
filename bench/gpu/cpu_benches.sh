#!/usr/bin/env bash
# On the GPU machine's 16 CPU cores: the CPU-side figures of the data and model issues, each beside its
# anchor. Needs .carry/ from prepare_carry.sh (binaries, libs, data; the original's package in
# .carry/orig for the PyTorch anchor). Prints a short table last; logs go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/unpack_carry.sh
export NANOCHAT_NO_PROGRESS=1 PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
BIN=.carry/bin; A=bench/anchors
W=/tmp/cpubench; rm -rf $W; mkdir -p $W
NT=$(nproc)
{
echo "== cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $NT"
python3 $A/tokenizer_anchors.py corpus --data .carry/data --out $W > $W/corpus.json

echo "== tokenizer trained on the train shards only (the issue's criterion), ids vs tiktoken on held-out text"
$BIN/nanochat tok-train --input .carry/data/shards --vocab-size 32768 --output $W/tok 2>&1 | tail -2
$BIN/tokenizer_encode_bench --tokenizer $W/tok --input $W/heldout.jsonl --threads $NT --repeat 1 --ids-out $W/ours.ids
python3 $A/tokenizer_anchors.py encode --tokenizer $W/tok --corpus $W/heldout.jsonl --threads $NT --repeat 1 --ids-out $W/tt.ids
python3 $A/tokenizer_anchors.py compare --a $W/ours.ids --b $W/tt.ids | tee $W/shards_compare.json

echo "== our parquet writer, read back by pyarrow"
$BIN/nanochat dataset --from-text $W/heldout.jsonl --output $W/ourshards --shuffle-seed -1 2>&1 | tail -1
python3 - $W <<'PY' | tee $W/pyarrow_check.json
import glob, json, sys, pyarrow.parquet as pq
w = sys.argv[1]
want = [json.loads(l)["text"] for l in open(f"{w}/heldout.jsonl", encoding="utf-8") if l.strip()]
got = []
for f in sorted(glob.glob(f"{w}/ourshards/*.parquet")):
    t = pq.read_table(f); assert t.schema.names == ["text"], t.schema
    got += t.column("text").to_pylist()
print(json.dumps({"pyarrow_docs": len(got), "expected_docs": len([d for d in want if d]), "identical": got == [d for d in want if d]}))
PY

echo "== loader throughput (B=32, T=2048)"
for T in 1 4 $NT; do $BIN/loader_bench --tokenizer $W/tok --data .carry/data/shards --threads $T --batches 300 | tee -a $W/loader.jsonl; done

echo "== CPU training step, depth 4, T=512, B=8 (fp32): ours vs the original in PyTorch"
for T in $NT; do
  OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T $BIN/train_step_bench --depth 4 --seq 512 --batch 8 --steps 7 | tee -a $W/step.jsonl
  for M in as-is compile-model eager; do
    NANOCHAT_DTYPE=float32 PYTHONPATH=.carry/orig timeout 300 python3 $A/model_step_anchor.py --depth 4 --seq 512 --batch 8 --steps 7 --threads $T --mode $M 2>$W/anchor_$M.err | tee -a $W/step.jsonl || tail -3 $W/anchor_$M.err
  done
  # ours again after the anchors: the spread between the two runs is the noise of this machine
  OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T $BIN/train_step_bench --depth 4 --seq 512 --batch 8 --steps 7 | tee -a $W/step.jsonl
done
} 2>&1 | tee $OUT/cpu_benches.log
cp $W/*.json $W/*.jsonl $OUT/ 2>/dev/null
python3 - $W <<'PY'
import json, sys
w = sys.argv[1]
print("\n== summary ==")
c = json.load(open(f"{w}/shards_compare.json")); print(f"tokenizer(train shards) ids == tiktoken on held-out: {c['docs_differing'] == 0} ({c['docs_a']} docs)")
p = json.load(open(f"{w}/pyarrow_check.json")); print(f"pyarrow reads our shards identically: {p['identical']} ({p['pyarrow_docs']} docs)")
for l in open(f"{w}/loader.jsonl"): j = json.loads(l); print(f"loader threads {j['threads']:>2}: {j['tokens_per_s']/1e6:.1f} M tokens/s")
rows = [json.loads(l) for l in open(f"{w}/step.jsonl") if l.startswith("{")]
ours = [r for r in rows if r["impl"] == "nanochat.cpp"]
for r in rows: print(f"step {r['impl']:<16} {r.get('mode',''):<14} {r['step_ms_median']:9.1f} ms  {r['tokens_per_s']:9.1f} tok/s  params {r['params']}")
pt = [r for r in rows if r["impl"] != "nanochat.cpp"]
if ours and pt:
    best = max(pt, key=lambda r: r["tokens_per_s"])
    for o in ours: print(f"ratio ours / best PyTorch ({best['mode']}): {o['tokens_per_s']/best['tokens_per_s']:.3f}x")
PY
