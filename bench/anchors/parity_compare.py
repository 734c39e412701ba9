"""Compares the parity run's loss curves (bench/gpu/parity_train + parity_original.py): ours against the
original in eager mode, with the original's own eager-vs-compiled difference as the bf16-noise yardstick
(two runs of the same model that differ only in how bf16 intermediates are rounded).

    python3 parity_compare.py OUT_DIR   -> prints a table, writes OUT_DIR/parity.json (all curves)
"""
import json
import sys

out = sys.argv[1]
curves = {}
for name, file in (("ours_cuda", "losses_cuda.json"), ("original_eager", "losses_original.json"),
                   ("original_compiled", "losses_original_compiled.json"),
                   ("original_eager_rerun", "losses_original_rerun.json"), ("ours_cpu_fp32", "losses_cpu.json")):
    try:
        curves[name] = json.load(open(f"{out}/{file}"))
    except FileNotFoundError:
        pass
# Diagnostic variants of our CUDA run (parity_train --tag): losses_cuda_<tag>.json.
import glob
import os
for path in sorted(glob.glob(f"{out}/losses_cuda_*.json")):
    curves["ours_cuda_" + os.path.basename(path)[len("losses_cuda_"):-len(".json")]] = json.load(open(path))
# The original under the same diagnostic (parity_original.py --tag): losses_original_<tag>.json.
for path in sorted(glob.glob(f"{out}/losses_original_*.json")):
    tag = os.path.basename(path)[len("losses_original_"):-len(".json")]
    if tag not in ("compiled", "rerun"):
        curves["original_" + tag] = json.load(open(path))
ours, eager = curves.get("ours_cuda"), curves.get("original_eager")
comp = curves.get("original_compiled")


def window_mean_abs(a, b, lo, hi):
    d = [abs(x - y) for x, y in zip(a[lo:hi], b[lo:hi])]
    return sum(d) / max(len(d), 1)


n = len(ours)
print(f"{'step':>5} {'ours':>9} {'orig eager':>11} {'orig compiled':>14} {'ours-eager':>11} {'compiled-eager':>15}")
for s in (0, 1, 2, 5, 10, 20, 50, 100, 150, n - 1):
    if s >= n:
        continue
    c = comp[s] if comp else float("nan")
    print(f"{s:5d} {ours[s]:9.4f} {eager[s]:11.4f} {c:14.4f} {ours[s]-eager[s]:+11.4f} {c-eager[s]:+15.4f}")
summary = {}
for lo, hi in ((0, 10), (10, 50), (50, 100), (100, 150), (150, n)):
    row = {"ours_vs_eager": window_mean_abs(ours, eager, lo, hi)}
    if comp:
        row["compiled_vs_eager"] = window_mean_abs(comp, eager, lo, hi)
    for other in ("original_eager_rerun", "ours_cpu_fp32"):
        if other in curves:
            row[f"{other}_vs_eager"] = window_mean_abs(curves[other], eager, lo, hi)
    summary[f"{lo}-{hi}"] = row
    print(f"mean |diff| steps {lo:3d}-{hi:3d}: " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()))
print(f"max |ours-eager| {max(abs(x - y) for x, y in zip(ours, eager)):.4f}"
      + (f"  max |compiled-eager| {max(abs(x - y) for x, y in zip(comp, eager)):.4f}" if comp else ""))
for name, c in curves.items():
    if name != "original_eager":
        d = [x - y for x, y in zip(c, eager)]
        print(f"{name:22s} - eager: mean {sum(d)/len(d):+.4f}  mean|.| {sum(abs(x) for x in d)/len(d):.4f}  "
              f"loss at 100/150/199: {c[100]:.4f} {c[150]:.4f} {c[-1]:.4f}")
json.dump({"curves": curves, "window_mean_abs_diff": summary}, open(f"{out}/parity.json", "w"))
# Same-diagnostic pairs: ours_cuda_<tag> against original_<tag>.
for name in curves:
    if name.startswith("ours_cuda_") and "original_" + name[len("ours_cuda_"):] in curves:
        a, b = curves[name], curves["original_" + name[len("ours_cuda_"):]]
        d = [x - y for x, y in zip(a, b)]
        print(f"{name} - original_{name[len('ours_cuda_'):]}: mean {sum(d)/len(d):+.4f}  "
              f"mean|.| {sum(abs(x) for x in d)/len(d):.4f}  max|.| {max(abs(x) for x in d):.4f}")
