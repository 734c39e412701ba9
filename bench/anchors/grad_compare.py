"""Per-parameter gradients at the same weights and batch, against the fp32 CPU reference: ours on the
device (parity_train --dump-grads-at) and the original's (parity_original.py --grads-at-dump). Which
of the two implementations' bf16 backward strays further from exact arithmetic, tensor by tensor?

    python3 grad_compare.py OUT_DIR [DEVICE]     (DEVICE: cuda, the default, or cpu)
"""
import json
import math
import struct
import sys
from array import array


def load(path):
    """{name: array('f')} from an all-f32 safetensors file (no numpy or safetensors package needed)."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {info['dtype']}, expected F32")
        lo, hi = info["data_offsets"]
        a = array("f")
        a.frombytes(raw[8 + n + lo:8 + n + hi])
        out[name] = a
    return out


def stats(got, ref):
    dd = rr = dr = 0.0
    for g, r in zip(got, ref):
        dd += g * g
        rr += r * r
        dr += g * r
    err = math.sqrt(max(0.0, dd - 2 * dr + rr)) / max(math.sqrt(rr), 1e-30)
    return err, dr / max(math.sqrt(dd * rr), 1e-30), math.sqrt(rr)


out = sys.argv[1]
device = sys.argv[2] if len(sys.argv) > 2 else "cuda"
ref = load(f"{out}/dump_grads_cpu_fp32.safetensors")
runs = {"ours": load(f"{out}/dump_grads_{device}.safetensors")}
try:
    runs["original"] = load(f"{out}/dump_grads_original.safetensors")
except FileNotFoundError:
    print("(no dump_grads_original.safetensors: ours only)")
rows = []
for name in ref:
    r = {k: stats(v[name], ref[name]) for k, v in runs.items() if name in v}
    rows.append((name, r))
# Largest excess of our error over the original's first: where our backward is the worse one.
key = (lambda x: x[1]["ours"][0] - x[1].get("original", (0,))[0])
print(f"{'parameter':45s} {'|g| fp32':>10s} " + " ".join(f"{k + ' rel err':>16s} {k + ' cos':>12s}" for k in runs))
for name, r in sorted(rows, key=key, reverse=True):
    print(f"{name:45s} {r['ours'][2]:10.3g} " + " ".join(f"{r[k][0]:16.3e} {r[k][1]:12.8f}" for k in runs if k in r))
