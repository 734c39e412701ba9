"""Runs the original nanochat's own chat scripts (scripts.chat_sft, scripts.chat_rl, scripts.chat_eval) offline
on the device machine, on our weights, our tokenizer and the local task files, so their speed and scores
can be set beside ours. Nothing of the original is modified: its HF loader (tasks/common.load_hub_dataset)
reads a manifest + parquet shards from $NANOCHAT_BASE_DIR/task_data/<repo>/<subset>/<split>/, so we
write the local data there in the HF exports' schemas; checkpoints are written as its checkpoint_manager
expects (model_*.pt + meta_*.json, tokenizer.pkl + token_bytes.pt).

    original_stage.py prepare ORIG TOK_DIR DATA_DIR WORK     # data/tokenizer for both, WORK/ours_task_data too
    original_stage.py checkpoint ORIG WORK MODEL.safetensors SOURCE TAG   # SOURCE: base|sft|rl
    original_stage.py run ORIG WORK MODULE [ARGS...]          # python -m MODULE, each line time-stamped
    original_stage.py stamp < LOG                             # the same time stamps for our logs
    original_stage.py chateval ORIG WORK SOURCE TAG TASK MAX_PROBLEMS OUT_JSONL [MAX_NEW_TOKENS]

DATA_DIR holds gsm8k/, mmlu/, core-eval/ and chat-conversations/ as in ../shared/data. SmolTalk is not
available offline: FastChat's dummy_conversation.json stands in, converted to smol-smoltalk rows.
"""
import base64
import json
import os
import subprocess
import sys
import time


def stub_dir(work):
    """Modules the original imports at the top but does not need here (Rust BPE trainer, wandb)."""
    d = os.path.join(work, "stubs")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "rustbpe.py"), "w") as f:
        f.write("# tokenizer training only\n")
    try:
        import wandb  # noqa: F401
    except ImportError:
        with open(os.path.join(d, "wandb.py"), "w") as f:
            f.write("def init(*a, **k):\n    raise RuntimeError('wandb stub: use --run dummy')\n")
    return d


def build_encoding(tok_dir):
    import tiktoken
    meta = json.load(open(os.path.join(tok_dir, "tokenizer.json")))
    ranks = {}
    for line in open(os.path.join(tok_dir, "tokenizer.tiktoken"), "rb"):
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    specials = {s["token"]: s["id"] for s in meta["special_tokens"]}
    return tiktoken.Encoding(name="nanochat-cpp", pat_str=meta["pattern"], mergeable_ranks=ranks,
                             special_tokens=specials)


def write_hub(base, repo, subset, split, table):
    import pyarrow.parquet as pq
    d = os.path.join(base, "task_data", repo.replace("/", "--"), subset, split)
    os.makedirs(d, exist_ok=True)
    pq.write_table(table, os.path.join(d, "00000.parquet"))
    json.dump(["00000.parquet"], open(os.path.join(d, "manifest.json"), "w"))


def sharegpt_to_messages(conv):
    roles = {"human": "user", "gpt": "assistant", "system": "system"}
    return [{"role": roles[m["from"]], "content": m["value"]} for m in conv["conversations"]]


def prepare(orig, tok_dir, data, work):
    import csv
    import pickle
    import pyarrow as pa
    import torch
    base = os.path.join(work, "base")
    tdir = os.path.join(base, "tokenizer")
    os.makedirs(tdir, exist_ok=True)
    enc = build_encoding(tok_dir)
    pickle.dump(enc, open(os.path.join(tdir, "tokenizer.pkl"), "wb"))
    special_ids = {enc.encode_single_token(s) for s in enc.special_tokens_set}
    nbytes = [0 if i in special_ids else len(enc.decode_single_token_bytes(i)) for i in range(enc.n_vocab)]
    torch.save(torch.tensor(nbytes, dtype=torch.int32), os.path.join(tdir, "token_bytes.pt"))

    for split in ("train", "test"):
        rows = [json.loads(l) for l in open(os.path.join(data, "gsm8k", f"{split}.jsonl"))]
        write_hub(base, "openai/gsm8k", "main", split, pa.table({
            "question": [r["question"] for r in rows], "answer": [r["answer"] for r in rows]}))
    for subset, name in (("ARC-Easy", "arc_easy"), ("ARC-Challenge", "arc_challenge")):
        rows = [json.loads(l) for l in open(os.path.join(data, "core-eval", "eval_data", "world_knowledge",
                                                          f"{name}.jsonl"))]
        labels = [[chr(ord("A") + i) for i in range(len(r["choices"]))] for r in rows]
        choice_type = pa.struct([("text", pa.list_(pa.string())), ("label", pa.list_(pa.string()))])
        write_hub(base, "allenai/ai2_arc", subset, "test", pa.table({
            "id": [str(i) for i in range(len(rows))],
            "question": [r["query"][len("Question: "):] for r in rows],
            "choices": pa.array([{"text": r["choices"], "label": l} for r, l in zip(rows, labels)], type=choice_type),
            "answerKey": [l[r["gold"]] for r, l in zip(rows, labels)]}))
    # cais/mmlu "all": the subjects' CSVs in name order (what our MMLU loader reads too).
    test_dir = os.path.join(data, "mmlu", "data", "test")
    q, subj, ch, ans = [], [], [], []
    for fname in sorted(os.listdir(test_dir)):
        for r in csv.reader(open(os.path.join(test_dir, fname), newline="")):
            q.append(r[0]); subj.append(fname[:-len("_test.csv")]); ch.append(r[1:5]); ans.append("ABCD".index(r[5]))
    write_hub(base, "cais/mmlu", "all", "test", pa.table({"question": q, "subject": subj, "choices": ch,
                                                          "answer": pa.array(ans, type=pa.int64())}))
    convs = json.load(open(os.path.join(data, "chat-conversations", "dummy_conversation.json")))
    msgs = [sharegpt_to_messages(c) for c in convs]
    ours = os.path.join(work, "ours_task_data")
    os.makedirs(os.path.join(ours, "smoltalk"), exist_ok=True)
    msg_type = pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))
    for split in ("train", "test"):
        write_hub(base, "HuggingFaceTB/smol-smoltalk", "default", split,
                  pa.table({"messages": pa.array(msgs, type=msg_type)}))
        with open(os.path.join(ours, "smoltalk", f"{split}.jsonl"), "w") as f:
            for m in msgs:
                f.write(json.dumps({"messages": m}, ensure_ascii=False) + "\n")
    for name in ("gsm8k", "mmlu", "core-eval"):
        link = os.path.join(ours, name)
        if not os.path.exists(link):
            os.symlink(os.path.abspath(os.path.join(data, name)), link)
    print(f"prepared {base} ({len(msgs)} SmolTalk stand-in rows) and {ours}")


def checkpoint(orig, work, weights, source, tag):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    sys.path.insert(0, orig)
    sys.path.insert(0, stub_dir(work))
    from nanochat.gpt import GPT, GPTConfig
    with safe_open(weights, "pt") as f:
        model_config = json.loads(f.metadata()["model_config"])
    keys = ("sequence_len", "vocab_size", "n_layer", "n_head", "n_kv_head", "n_embd", "window_pattern")
    with torch.device("meta"):
        model = GPT(GPTConfig(**{k: model_config[k] for k in keys}))
    dtypes = {k: v.dtype for k, v in model.state_dict().items()}
    state = {k: v.to(dtypes[k]) for k, v in load_file(weights).items()}
    step = int(os.path.basename(weights).split("_")[1].split(".")[0])
    meta_path = os.path.join(os.path.dirname(weights), f"meta_{step:06d}.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {"model_config": model_config}
    meta["model_config"] = {k: model_config[k] for k in keys}
    d = os.path.join(work, "base", {"base": "base_checkpoints", "sft": "chatsft_checkpoints",
                                    "rl": "chatrl_checkpoints"}[source], tag)
    os.makedirs(d, exist_ok=True)
    torch.save(state, os.path.join(d, f"model_{step:06d}.pt"))
    json.dump(meta, open(os.path.join(d, f"meta_{step:06d}.json"), "w"), indent=2)
    print(f"wrote {d}/model_{step:06d}.pt")


def run(orig, work, module, args):
    env = dict(os.environ, NANOCHAT_BASE_DIR=os.path.join(work, "base"), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([stub_dir(work), orig]))
    t0 = time.time()
    p = subprocess.Popen([sys.executable, "-m", module, *args], cwd=orig, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in p.stdout:
        for part in line.rstrip("\n").split("\r"):
            if part.strip():
                print(f"[{time.time() - t0:9.3f}] {part}", flush=True)
    sys.exit(p.wait())


def chateval(orig, work, source, tag, task_name, max_problems, out_jsonl, max_new_tokens=512):
    """The original's run_categorical_eval / run_generative_eval (greedy: temperature 0, one sample), each
    problem's prediction or completion recorded beside its outcome."""
    os.environ["NANOCHAT_BASE_DIR"] = os.path.join(work, "base")
    sys.path.insert(0, orig)
    sys.path.insert(0, stub_dir(work))
    os.chdir(orig)
    import torch
    from nanochat.checkpoint_manager import load_model
    from nanochat.engine import Engine
    import scripts.chat_eval as ce
    from tasks.arc import ARC
    from tasks.gsm8k import GSM8K
    model, tokenizer, _ = load_model(source, torch.device("cuda"), phase="eval", model_tag=tag)
    engine = Engine(model, tokenizer)
    task = {"ARC-Easy": lambda: ARC(subset="ARC-Easy", split="test"),
            "ARC-Challenge": lambda: ARC(subset="ARC-Challenge", split="test"),
            "GSM8K": lambda: GSM8K(subset="main", split="test")}[task_name]()
    records = []
    evaluate = task.evaluate
    sink = open(out_jsonl, "w")  # written as judged, so a run cut short by a time limit still tells

    def recording_evaluate(conversation, answer):
        ok = evaluate(conversation, answer)
        records.append({"i": len(records), "answer": answer, "correct": bool(ok)})
        sink.write(json.dumps(records[-1], ensure_ascii=False) + "\n")
        sink.flush()
        return ok
    task.evaluate = recording_evaluate
    t0 = time.time()
    if task.eval_type == "categorical":
        acc = ce.run_categorical_eval(task, tokenizer, model, batch_size=8, max_problems=max_problems)
    else:
        acc = ce.run_generative_eval(task, tokenizer, model, engine, num_samples=1, max_new_tokens=max_new_tokens,
                                     temperature=0.0, top_k=50, max_problems=max_problems)
    dt = time.time() - t0
    sink.close()
    print(f"original chat_eval {task_name}: accuracy {acc:.6f} over {len(records)} problems in {dt:.1f} s")


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "prepare":
        prepare(*rest)
    elif cmd == "checkpoint":
        checkpoint(*rest)
    elif cmd == "run":
        run(rest[0], rest[1], rest[2], rest[3:])
    elif cmd == "stamp":  # time-stamps stdin's lines as `run` does, for our own commands' logs
        t0 = time.time()
        for line in sys.stdin:
            print(f"[{time.time() - t0:9.3f}] {line.rstrip()}", flush=True)
    elif cmd == "chateval":
        chateval(rest[0], rest[1], rest[2], rest[3], rest[4], int(rest[5]), rest[6],
                 *(int(x) for x in rest[7:8]))
    else:
        sys.exit(f"unknown command {cmd}")
