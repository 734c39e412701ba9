"""Speed anchors and oracle for the tokenizer (runs on the GPU machine, where tiktoken, HF tokenizers
and pyarrow are installed; not part of nanochat.cpp itself).

  python3 tokenizer_anchors.py corpus  --data DIR --out DIR          build train/heldout JSONL corpora
  python3 tokenizer_anchors.py train   --corpus F --vocab N          time HF BpeTrainer (prints JSON)
  python3 tokenizer_anchors.py encode  --tokenizer DIR --corpus F --threads N [--ids-out F]
  python3 tokenizer_anchors.py compare --a F --b F                   compare two id dumps
"""
import argparse, bz2, glob, gzip, json, os, struct, sys, time

SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
SPECIALS = ["<|bos|>", "<|user_start|>", "<|user_end|>", "<|assistant_start|>", "<|assistant_end|>",
            "<|python_start|>", "<|python_end|>", "<|output_start|>", "<|output_end|>"]


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")


def cmd_corpus(a):
    import pyarrow.parquet as pq
    shards = sorted(glob.glob(os.path.join(a.data, "shards", "*.parquet")))
    train, held = [], []
    for i, s in enumerate(shards):
        docs = pq.read_table(s, columns=["text"]).column("text").to_pylist()
        (held if i == len(shards) - 1 else train).extend(docs)
    # More held-out and training text: HellaSwag contexts, MMLU questions, GSM8K test, HumanEval prompts.
    hs = os.path.join(a.data, "hellaswag-text", "hellaswag_val_full.txt.bz2")
    if os.path.exists(hs):
        lines = bz2.open(hs, "rt", encoding="utf-8").read().split("\n")
        held.extend(l for l in lines if l.strip())
    for p in sorted(glob.glob(os.path.join(a.data, "mmlu", "data", "**", "*.csv"), recursive=True)):
        train.append(open(p, encoding="utf-8").read())
    gt = os.path.join(a.data, "gsm8k", "test.jsonl")
    if os.path.exists(gt):
        for line in open(gt, encoding="utf-8"):
            o = json.loads(line); held.append(o["question"] + "\n" + o["answer"])
    he = os.path.join(a.data, "humaneval", "HumanEval.jsonl.gz")
    if os.path.exists(he):
        for line in gzip.open(he, "rt", encoding="utf-8"):
            o = json.loads(line); held.append(o["prompt"] + o["canonical_solution"])
    os.makedirs(a.out, exist_ok=True)
    write_jsonl(os.path.join(a.out, "train.jsonl"), train)
    write_jsonl(os.path.join(a.out, "heldout.jsonl"), held)
    print(json.dumps({"train_docs": len(train), "train_bytes": sum(len(d.encode()) for d in train),
                      "heldout_docs": len(held), "heldout_bytes": sum(len(d.encode()) for d in held)}))


def read_docs(path):
    return [json.loads(l)["text"] for l in open(path, encoding="utf-8") if l.strip()]


def cmd_train(a):
    from tokenizers import Tokenizer, Regex, pre_tokenizers, decoders
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    docs = read_docs(a.corpus)
    nbytes = sum(len(d.encode()) for d in docs)
    # The configuration the original's HuggingFaceTokenizer.train_from_iterator uses.
    tok = Tokenizer(BPE(byte_fallback=True, unk_token=None, fuse_unk=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(vocab_size=a.vocab, show_progress=False, min_frequency=0,
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=SPECIALS)
    t0 = time.perf_counter()
    tok.train_from_iterator(docs, trainer)
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "hf-tokenizers", "vocab": a.vocab, "seconds": dt, "bytes": nbytes,
                      "mb_per_s": nbytes / dt / 1e6, "final_vocab": tok.get_vocab_size()}))


def load_ours_in_tiktoken(d):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    meta = json.load(open(os.path.join(d, "tokenizer.json")))
    ranks = load_tiktoken_bpe(os.path.join(d, meta["mergeable_ranks"]))
    specials = {s["token"]: s["id"] for s in meta["special_tokens"]}
    return tiktoken.Encoding(name="rustbpe", pat_str=meta["pattern"], mergeable_ranks=ranks, special_tokens=specials)


def cmd_encode(a):
    enc = load_ours_in_tiktoken(a.tokenizer)
    docs = read_docs(a.corpus)
    nbytes = sum(len(d.encode()) for d in docs)
    ids = enc.encode_ordinary_batch(docs, num_threads=a.threads)  # warm-up
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        ids = enc.encode_ordinary_batch(docs, num_threads=a.threads)
        times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"impl": "tiktoken", "threads": a.threads, "docs": len(docs), "bytes": nbytes,
                      "tokens": sum(map(len, ids)), "seconds_median": med, "mb_per_s": nbytes / med / 1e6}))
    if a.ids_out:
        with open(a.ids_out, "wb") as f:
            for v in ids:
                f.write(struct.pack("<Q", len(v)))
                f.write(struct.pack("<%dI" % len(v), *v))


def read_ids(path):
    out, data, off = [], open(path, "rb").read(), 0
    while off < len(data):
        (n,) = struct.unpack_from("<Q", data, off); off += 8
        out.append(struct.unpack_from("<%dI" % n, data, off)); off += 4 * n
    return out


def cmd_compare(a):
    x, y = read_ids(a.a), read_ids(a.b)
    diff = [i for i in range(min(len(x), len(y))) if x[i] != y[i]]
    print(json.dumps({"docs_a": len(x), "docs_b": len(y), "tokens_a": sum(map(len, x)), "tokens_b": sum(map(len, y)),
                      "docs_differing": len(diff) + abs(len(x) - len(y)), "first_differing": diff[:5]}))
    sys.exit(0 if not diff and len(x) == len(y) else 1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus"); c.add_argument("--data", required=True); c.add_argument("--out", required=True)
    t = sub.add_parser("train"); t.add_argument("--corpus", required=True); t.add_argument("--vocab", type=int, required=True)
    e = sub.add_parser("encode"); e.add_argument("--tokenizer", required=True); e.add_argument("--corpus", required=True)
    e.add_argument("--threads", type=int, default=1); e.add_argument("--repeat", type=int, default=5); e.add_argument("--ids-out")
    m = sub.add_parser("compare"); m.add_argument("--a", required=True); m.add_argument("--b", required=True)
    a = ap.parse_args()
    {"corpus": cmd_corpus, "train": cmd_train, "encode": cmd_encode, "compare": cmd_compare}[a.cmd](a)
