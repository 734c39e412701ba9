"""CORE with the original nanochat's code on the same weights and task files as `nanochat base-eval`:
the original's GPT (weights from our safetensors checkpoint), its RustBPETokenizer wrapper around a
tiktoken Encoding built from our tokenizer files, and its nanochat.core_eval.evaluate_task for every
task of the bundle whose data file exists (the loop mirrors scripts/base_eval.evaluate_core, which
aborts on a missing file). Prints per-task accuracy, examples/s and CORE; writes OUT_JSON.

    python3 core_original.py ORIGINAL_REPO_DIR MODEL.safetensors TOKENIZER_DIR BUNDLE_DIR OUT_JSON [MAX_PER_TASK]
"""
import csv
import json
import os
import random
import sys
import time

import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file

from original_stage import build_encoding  # same folder: our tokenizer files as a tiktoken Encoding


def main():
    orig, weights, tok_dir, bundle, out_json = sys.argv[1:6]
    max_per_task = int(sys.argv[6]) if len(sys.argv) > 6 else -1
    sys.path.insert(0, orig)
    # The original's tokenizer module imports its Rust BPE trainer at the top; only training needs it.
    import types
    sys.modules.setdefault("rustbpe", types.ModuleType("rustbpe"))
    from nanochat.core_eval import evaluate_task
    from nanochat.gpt import GPT, GPTConfig
    from nanochat.tokenizer import RustBPETokenizer

    tokenizer = RustBPETokenizer(build_encoding(tok_dir), "<|bos|>")

    with safe_open(weights, "pt") as f:
        model_config = json.loads(f.metadata()["model_config"])
    config = GPTConfig(**{k: model_config[k] for k in ("sequence_len", "vocab_size", "n_layer", "n_head",
                                                       "n_kv_head", "n_embd", "window_pattern")})
    with torch.device("meta"):
        model = GPT(config)
    model.to_empty(device="cuda")
    model.init_weights()
    model.load_state_dict(load_file(weights, device="cuda"), strict=True)
    model.eval()

    cfg = yaml.safe_load(open(os.path.join(bundle, "core.yaml")))
    baselines = {}
    for row in csv.DictReader(open(os.path.join(bundle, "eval_meta_data.csv"))):
        baselines[row["Eval Task"]] = float(row["Random baseline"])
    results, centered, times, counts = {}, {}, {}, {}
    for task in cfg["icl_tasks"]:
        label = task["label"]
        path = os.path.join(bundle, "eval_data", task["dataset_uri"])
        if not os.path.exists(path):
            print(f"{label}: MISSING", flush=True)
            continue
        task_meta = {"task_type": task["icl_task_type"], "dataset_uri": task["dataset_uri"],
                     "num_fewshot": task["num_fewshot"][0],
                     "continuation_delimiter": task.get("continuation_delimiter", " ")}
        data = [json.loads(line.strip()) for line in open(path, encoding="utf-8")]
        random.Random(1337).shuffle(data)
        if max_per_task > 0:
            data = data[:max_per_task]
        torch.cuda.synchronize()
        t0 = time.time()
        with torch.no_grad():
            acc = evaluate_task(model, tokenizer, data, "cuda", task_meta)
        torch.cuda.synchronize()
        times[label] = time.time() - t0
        counts[label] = len(data)
        results[label] = acc
        b = 0.01 * baselines[label]
        centered[label] = (acc - b) / (1.0 - b)
        print(f"{label}: accuracy {acc:.4f} centered {centered[label]:.4f} ({len(data)} in {times[label]:.2f}s)",
              flush=True)
    core = sum(centered.values()) / len(centered)
    total_n, total_s = sum(counts.values()), sum(times.values())
    print(f"original CORE (over {len(centered)} tasks): {core:.6f}; {total_n} examples in {total_s:.1f}s "
          f"= {total_n / total_s:.1f} examples/s", flush=True)
    json.dump({"results": results, "centered": centered, "core": core, "seconds": times, "examples": counts},
              open(out_json, "w"), indent=1)


if __name__ == "__main__":
    main()
