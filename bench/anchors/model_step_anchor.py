"""PyTorch CPU training step of the ORIGINAL nanochat model (gpt.py + optim.py, fp32, no compile), the
speed anchor for nanochat.cpp's CPU step. The original's package is not part of this project: copy it
into a git-ignored folder and put that on PYTHONPATH (see bench/gpu/prepare_carry.sh).
  NANOCHAT_DTYPE=float32 PYTHONPATH=.carry/orig python3 model_step_anchor.py --depth 4 --seq 512 --batch 8 --threads N
"""
import argparse, json, os, statistics, time
os.environ.setdefault("NANOCHAT_DTYPE", "float32")
import torch
from nanochat.gpt import GPT, GPTConfig

ap = argparse.ArgumentParser()
ap.add_argument("--depth", type=int, default=4); ap.add_argument("--seq", type=int, default=512)
ap.add_argument("--batch", type=int, default=8); ap.add_argument("--vocab", type=int, default=32768)
ap.add_argument("--steps", type=int, default=10); ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--aspect-ratio", type=int, default=64); ap.add_argument("--head-dim", type=int, default=128)
ap.add_argument("--window-pattern", default="SSSL")
ap.add_argument("--mode", choices=["as-is", "compile-model", "eager"], default="as-is",
                help="as-is: the original's compiled optimizer, eager model; compile-model: also torch.compile the "
                     "model, as base_train does; eager: no torch.compile at all")
a = ap.parse_args()
if a.mode == "eager":
    import torch._dynamo
    torch._dynamo.config.disable = True
if a.threads > 0:
    torch.set_num_threads(a.threads)
dim = a.depth * a.aspect_ratio
dim = ((dim + a.head_dim - 1) // a.head_dim) * a.head_dim  # the original's rounding up to whole heads
heads = dim // a.head_dim
cfg = GPTConfig(sequence_len=a.seq, vocab_size=a.vocab, n_layer=a.depth, n_head=heads, n_kv_head=heads, n_embd=dim,
                window_pattern=a.window_pattern)
torch.manual_seed(1)
model = GPT(cfg)
model.init_weights()
opt = model.setup_optimizer()
fwd = torch.compile(model, dynamic=False) if a.mode == "compile-model" else model
g = torch.Generator().manual_seed(1)
x = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
y = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)

def step():
    loss = fwd(x, y)
    loss.backward()
    opt.step()
    model.zero_grad(set_to_none=True)
    return loss.item()

step(); step(); step()
times = []
for _ in range(a.steps):
    t0 = time.perf_counter(); loss = step(); times.append(time.perf_counter() - t0)
med = statistics.median(times)
print(json.dumps({"impl": "pytorch-original", "mode": a.mode, "threads": torch.get_num_threads(), "depth": a.depth, "n_embd": dim,
                  "B": a.batch, "T": a.seq, "params": sum(p.numel() for p in model.parameters()),
                  "step_ms_median": med * 1e3, "tokens_per_s": a.batch * a.seq / med, "last_loss": loss}))
