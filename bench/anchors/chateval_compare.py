"""Compares two chat-eval runs problem by problem: ours (`nanochat chat-eval --records`) against the
original's (original_stage.py chateval), same task, checkpoint and problem order.

    python3 chateval_compare.py OURS.jsonl ORIGINAL.jsonl
"""
import json
import sys

def first_per_problem(path):
    """One record per problem index (the first sample's), in index order: runs split over ranks
    (concatenated .rankN files) or with several samples still line up."""
    seen = {}
    for line in open(path):
        r = json.loads(line)
        seen.setdefault(r["i"], r)
    return [seen[i] for i in sorted(seen)]


ours = first_per_problem(sys.argv[1])
orig = first_per_problem(sys.argv[2])
common = sorted({r["i"] for r in ours} & {r["i"] for r in orig})
ours = [r for r in ours if r["i"] in set(common)]
orig = [r for r in orig if r["i"] in set(common)]
n = len(common)
same_answer = sum(a["answer"] == b["answer"] for a, b in zip(ours[:n], orig[:n]))
same_verdict = sum(a["correct"] == b["correct"] for a, b in zip(ours[:n], orig[:n]))
print(f"problems: ours {len(ours)}, original {len(orig)}; correct: ours {sum(r['correct'] for r in ours)}, "
      f"original {sum(r['correct'] for r in orig)}; same answer {same_answer}/{n}, same verdict {same_verdict}/{n}")
margins = sorted(r["margin"] for r in ours if "margin" in r)
if margins:  # categorical: our pick's logit lead over the runner-up, for scale
    q = lambda f: margins[min(len(margins) - 1, int(f * len(margins)))]
    print(f"our margins (best - runner-up logit): median {q(0.5):.4f}, 10th percentile {q(0.1):.4f}, "
          f"1st percentile {q(0.01):.4f}")
for a, b in zip(ours[:n], orig[:n]):
    if a["answer"] != b["answer"] and "margin" in a:
        rank = sum(m < a["margin"] for m in margins)
        print(f"  problem {a['i']}: ours {a['answer']} ({a['correct']}), original {b['answer']} ({b['correct']}); "
              f"our margin {a['margin']:.4f} (smaller than {100 * (1 - rank / len(margins)):.1f}% of all margins)")
        continue
    if a["answer"] != b["answer"]:
        # Where two greedy completions part: the first differing character, with a little context.
        k = next((i for i, (x, y) in enumerate(zip(a["answer"], b["answer"])) if x != y),
                 min(len(a["answer"]), len(b["answer"])))
        print(f"  problem {a['i']}: verdict ours {a['correct']} original {b['correct']}; answers part at char {k}: "
              f"ours {a['answer'][max(0, k - 20):k + 30]!r} original {b['answer'][max(0, k - 20):k + 30]!r}")
