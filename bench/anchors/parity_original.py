"""Trains the original nanochat's PyTorch GPT on exactly what bench/gpu/parity_train wrote: its initial
weights (init.safetensors), its token batches (batches.bin) and its hyperparameters (hyper.json), with
the original's setup_optimizer and base_train's schedules, and writes losses_original.json.

    python3 parity_original.py ORIGINAL_REPO_DIR OUT_DIR [--compile] [--tag TAG] [--zero-step0-scalar-grads]
    python3 parity_original.py ORIGINAL_REPO_DIR OUT_DIR --grads-at-dump
        (no training: the original's gradients at parity_train --dump-grads-at's weights and batch, written
        to dump_grads_original.safetensors for grad_compare.py)

ORIGINAL_REPO_DIR holds the original's `nanochat` package (never committed here: copied from a
fetched mirror at run time). Runs on CUDA (compute dtype bf16, as the original picks on Hopper).
"""
import json
import math
import sys
import time

import numpy as np
import torch
from safetensors.torch import load_file


def main():
    orig, out = sys.argv[1], sys.argv[2]
    compile_model = "--compile" in sys.argv
    sys.path.insert(0, orig)
    from nanochat.gpt import GPT, GPTConfig  # the original's model, unmodified

    hyper = json.load(open(f"{out}/hyper.json"))
    mc = hyper["model_config"]
    config = GPTConfig(**{k: mc[k] for k in ("sequence_len", "vocab_size", "n_layer", "n_head", "n_kv_head",
                                              "n_embd", "window_pattern")})
    B, T, steps = hyper["B"], hyper["T"], hyper["steps"]
    device = torch.device("cuda")
    with torch.device("meta"):
        model = GPT(config)
    model.to_empty(device=device)
    model.init_weights()  # buffers (rotary) and the original's dtypes (bf16 wte / value_embeds)
    state = load_file(f"{out}/init.safetensors", device="cuda")
    model.load_state_dict(state, strict=True)  # copy_ casts to each parameter's own dtype
    optimizer = model.setup_optimizer(unembedding_lr=hyper["unembedding_lr"], embedding_lr=hyper["embedding_lr"],
                                      matrix_lr=hyper["matrix_lr"], weight_decay=hyper["weight_decay"],
                                      scalar_lr=hyper["scalar_lr"])
    run = torch.compile(model, dynamic=False) if compile_model else model

    warmup, warmdown_ratio, final_frac = hyper["warmup_steps"], hyper["warmdown_ratio"], hyper["final_lr_frac"]
    wd0 = hyper["weight_decay"]
    warmdown = round(warmdown_ratio * steps)

    def lrm(it):  # base_train.get_lr_multiplier
        if it < warmup:
            return (it + 1) / warmup
        if it <= steps - warmdown:
            return 1.0
        progress = (steps - it) / warmdown
        return progress * 1.0 + (1 - progress) * final_frac

    def momentum(it):  # base_train.get_muon_momentum
        start = steps - warmdown
        if it < 400:
            frac = it / 400
            return (1 - frac) * 0.85 + frac * 0.97
        if it >= start:
            progress = (it - start) / warmdown
            return 0.97 * (1 - progress) + 0.90 * progress
        return 0.97

    def weight_decay(it):  # base_train.get_weight_decay
        return wd0 * 0.5 * (1 + math.cos(math.pi * it / steps))

    data = np.fromfile(f"{out}/batches.bin", dtype=np.int32).reshape(steps, 2, B, T)
    if "--grads-at-dump" in sys.argv:
        from safetensors import safe_open
        from safetensors.torch import save_file
        with safe_open(f"{out}/dump_grads_cpu_fp32.safetensors", "pt") as f:
            step = int(f.metadata()["step"])
        model.load_state_dict(load_file(f"{out}/dump_weights.safetensors", device="cuda"), strict=True)
        x = torch.from_numpy(data[step, 0].astype(np.int64)).to(device)
        y = torch.from_numpy(data[step, 1].astype(np.int64)).to(device)
        model.zero_grad(set_to_none=True)
        loss = run(x, y)
        loss.backward()
        grads = {name: p.grad.float().contiguous() for name, p in model.named_parameters() if p.grad is not None}
        save_file(grads, f"{out}/dump_grads_original.safetensors", metadata={"step": str(step)})
        print(f"original: gradients at step {step}'s weights and batch (loss {loss.item():.6f}) written", flush=True)
        return
    losses = []
    t0 = time.time()
    for step in range(steps):
        x = torch.from_numpy(data[step, 0].astype(np.int64)).to(device)
        y = torch.from_numpy(data[step, 1].astype(np.int64)).to(device)
        loss = run(x, y)
        loss.backward()
        if step == 0:  # see parity_train --zero-step0-scalar-grads
            for name in ("resid_lambdas", "x0_lambdas", "backout_lambda"):
                g = getattr(model, name).grad
                print(f"original step 0 gradient of {name}: {g.flatten().tolist()}", flush=True)
                if "--zero-step0-scalar-grads" in sys.argv:
                    g.zero_()
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * lrm(step)
            if group["kind"] == "muon":
                group["momentum"] = momentum(step)
                group["weight_decay"] = weight_decay(step)
        optimizer.step()
        model.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 20 == 0 or step + 1 == steps:
            print(f"original step {step:4d} loss {losses[-1]:.6f}", flush=True)
    print(f"original: {steps} steps in {time.time() - t0:.1f}s", flush=True)
    name = "losses_original_compiled.json" if compile_model else "losses_original.json"
    if "--tag" in sys.argv:
        name = name.replace(".json", "_" + sys.argv[sys.argv.index("--tag") + 1] + ".json")
    json.dump(losses, open(f"{out}/{name}", "w"))


if __name__ == "__main__":
    main()
