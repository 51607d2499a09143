"""Multi-hop evaluation (issue 19): one retrieval round against several, beside single-shot and iterative RAG
baselines with the same reader and the same number of notes read.

    python bench/multihop_eval.py --sets chains-1000 chains-gen-1000 [--rounds 2] [--top-k 4] [--limit N]
                                  [--checkpoint DIR] [--device cuda] [--json OUT]

Sets: `chains-N` = the hand-written chains (eval/sets/handwritten_chains_{a,b,c}.json: health and family,
work, home and hobbies) among filler memories of the separate generator (seed 0), N memories in all;
`chains-gen-N` / `chains-gen-dev-N` = the separate generator's own chains (eval/sets/__init__.py). None of them
is ever used for training or tuning (eval/sets/README.md).

Rows, each answered by our reader (`MSAModel.read`, notes best last, earlier rounds first):
- `ours x1 @k`: our routing, one round, k notes (the shipped way, `generate`);
- `ours xR @k`: R rounds of our routing (each next round routes on the question and the last round's notes,
  `generate(rounds=R)`), k new notes a round;
- `ours x1 @Rk`, `bm25 @Rk`, `minilm @Rk`: one round with as many notes as R rounds read;
- `bm25 xR @k`: iterative BM25, each next round queried with the question and the notes the last round found.
Reported by hop count: answer accuracy (a reply holding an accepted answer, no abstention) and the share of
questions whose every gold memory was read; the seconds per question (p50) of ours x1 and xR.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from msa.eval import sets
from msa.eval.baselines import bm25_rankings, minilm_rankings
from msa.eval.metrics import right
from msa.eval.sets import EvalSet, generate
from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.memory import Memory

CHAIN_PARTS = ("handwritten_chains_a", "handwritten_chains_b", "handwritten_chains_c")  # health, work, home
HOPS = (1, 2, 3)


def load(name: str) -> EvalSet:
    """`chains-N`: the hand-written chains among the separate generator's memories, N in all; else sets.load."""
    if not (name.startswith("chains-") and name[len("chains-"):].isdecimal()):
        return sets.load(name)
    chains = sets.merged(name, [sets.handwritten(part) for part in CHAIN_PARTS])
    size = int(name[len("chains-"):])
    filler = generate(size, 0, 0, seed=0).memories
    return EvalSet(name, chains.memories + filler[:max(0, size - len(chains.memories))], chains.questions,
                   chains.absent)


def iterative(rank: Callable[[list[str]], list[list[int]]], memories: list[str], question: str, rounds: int,
              k: int, per_note: bool) -> list[list[int]]:
    """Each round's k new memories: round 1 for the question; each next for the question and the notes the
    last round found as one query, or (`per_note`) for each of those notes alone, fused by reciprocal rank."""
    found: list[list[int]] = []
    queries = [question]
    for _ in range(rounds):
        seen = {m for r in found for m in r}
        fused: dict[int, float] = {}
        for ranked in rank(queries):
            for place, m in enumerate(ranked):
                fused[m] = fused.get(m, 0.0) + 1.0 / (60 + place)
        found.append([m for m in sorted(fused, key=lambda m: (-fused[m], m)) if m not in seen][:k])
        notes = [memories[m] for m in found[-1]]
        queries = notes if per_note else [question + "\n" + "\n".join(notes)]
    return found


def recall_rows(model: MSAModel, es: EvalSet, memory: Memory, rounds: int, k: int) -> list[dict]:
    """All-gold-read by hops for routing alone (no answers): one round, rounds by the question and the notes,
    rounds by each note alone; BM25 and MiniLM the same ways."""
    texts = [t for _, t in es.memories]
    questions = [q.question for q in es.questions]
    depth = rounds * k + k

    def ours(queries: list[str]) -> list[list[int]]:
        return [[n for n, _ in model.route(q, memory, read_mode="text").ranking()[:depth]] for q in queries]

    def bm25(queries: list[str]) -> list[list[int]]:
        return bm25_rankings(texts, queries, k=depth)

    rows = []
    for name, rank in (("ours", ours), ("bm25", bm25)):
        rows.append({"retriever": f"{name} x1 @{rounds * k}",
                     "hops": score(es, [rank([q])[0][:rounds * k] for q in questions], None)})
        for per_note in (False, True):
            found = [iterative(rank, texts, q, rounds, k, per_note) for q in tqdm(questions, leave=False)]
            rows.append({"retriever": f"{name} x{rounds} @{k} " + ("each note" if per_note else "question + notes"),
                         "hops": score(es, [[m for r in f for m in r] for f in found], None)})
    minilm = minilm_rankings(texts, questions, k=rounds * k)
    rows.append({"retriever": f"minilm x1 @{rounds * k}", "hops": score(es, minilm, None)})
    return [{"set": es.name, "memories": len(texts)} | r for r in rows]


def reading_order(rounds: list[list[int]]) -> list[int]:
    """Notes as our multi-round reading places them: earlier rounds first, each round best last."""
    return [m for r in rounds for m in r[::-1]]


def score(es: EvalSet, notes: list[list[int]], replies: list[str] | None) -> dict:
    """Accuracy (with replies) and all-gold-read share by hop count (questions of each count present)."""
    number = {mid: i for i, (mid, _) in enumerate(es.memories)}
    out: dict = {}
    for hops in HOPS:
        rows = [i for i, q in enumerate(es.questions) if getattr(q, "hops", 1) == hops]
        if rows:
            out[hops] = {"n": len(rows),
                         "all_gold_read": sum({number[g] for g in es.questions[i].gold} <= set(notes[i])
                                              for i in rows) / len(rows)}
            if replies is not None:
                out[hops]["answered"] = sum(right(replies[i], es.questions[i].answers) for i in rows) / len(rows)
    return out


def evaluate(model: MSAModel, es: EvalSet, rounds: int, k: int, max_new_tokens: int) -> list[dict]:
    texts = [t for _, t in es.memories]
    memory = Memory(model.encode_documents(texts))
    questions = [q.question for q in es.questions]
    rows = []

    def ours(label: str, **options) -> list[float]:
        notes, replies, seconds = [], [], []
        for q in tqdm(questions, desc=f"{es.name}: {label}", leave=False):
            start = time.perf_counter()
            result = model.generate(q, memory, read_mode="text", max_new_tokens=max_new_tokens, **options)
            seconds.append(time.perf_counter() - start)
            notes.append(result.documents)
            replies.append(result.text)
        rows.append({"retriever": label, "p50_s": statistics.median(seconds)} | {"hops": score(es, notes, replies)})
        return seconds

    def read(label: str, picked: Callable[[int], list[int]]) -> None:
        notes = [picked(i) for i in range(len(questions))]
        replies = [model.read(q, [(m, texts[m]) for m in n], max_new_tokens)
                   for q, n in tqdm(list(zip(questions, notes, strict=True)), desc=f"{es.name}: {label}", leave=False)]
        rows.append({"retriever": label, "hops": score(es, notes, replies)})

    one = ours(f"ours x1 @{k}", top_k=k)
    many = ours(f"ours x{rounds} @{k}", top_k=k, rounds=rounds)
    rows[-1]["extra_round_p50_s"] = statistics.median((b - a) / (rounds - 1) for a, b in zip(one, many, strict=True))
    ours(f"ours x1 @{rounds * k}", top_k=rounds * k)
    for name, ranking in (("bm25", bm25_rankings), ("minilm", minilm_rankings)):
        ranked = ranking(texts, questions, k=rounds * k)
        read(f"{name} @{rounds * k}", lambda i, r=ranked: r[i][:rounds * k][::-1])
    iterated = [iterative(lambda qs: bm25_rankings(texts, qs, k=2 * rounds * k), texts, q, rounds, k, False)
                for q in questions]
    read(f"bm25 x{rounds} @{k}", lambda i: reading_order(iterated[i]))
    return [{"set": es.name, "memories": len(texts)} | r for r in rows]


def print_table(rows: list[dict]) -> None:
    print("| set | retriever | " + " | ".join(f"{h}-hop answered / all gold read" for h in HOPS) + " | p50 s |")
    print("|---|---|" + "---|" * len(HOPS) + "---|")
    for r in rows:
        cells = [(f"{r['hops'][h]['answered']:.3f} / " if "answered" in r["hops"].get(h, {}) else "")
                 + f"{r['hops'][h]['all_gold_read']:.3f}" if h in r["hops"] else "" for h in HOPS]
        timing = f"{r['p50_s']:.2f}" if "p50_s" in r else ""
        if "extra_round_p50_s" in r:
            timing += f" (+{r['extra_round_p50_s']:.2f} a round)"
        print(f"| {r['set']} | {r['retriever']} | " + " | ".join(cells) + f" | {timing} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["chains-1000", "chains-gen-1000"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--top-k", type=int, default=4)
    ap.add_argument("--limit", type=int, help="the first N questions of each set only")
    ap.add_argument("--retrieval-only", action="store_true",
                    help="all-gold-read of routing / BM25 rounds (question + notes, or each note alone), no answers")
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--checkpoint", type=Path, help="default: the embedded default model")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--json", type=Path, help="append every result row to this JSON-lines file")
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    model = MSAModel.from_pretrained(args.checkpoint or default_model(), device=args.device)
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {args.threads} threads"
    print(f"{datetime.date.today()}; {device}; {args.rounds} rounds of top {args.top_k}")
    rows = []
    for name in args.sets:
        es = load(name)
        if args.limit:
            es = EvalSet(es.name, es.memories, es.questions[:args.limit], es.absent)
        rows_of = (recall_rows(model, es, Memory(model.encode_documents([t for _, t in es.memories])), args.rounds,
                               args.top_k) if args.retrieval_only
                   else evaluate(model, es, args.rounds, args.top_k, args.max_new_tokens))
        for row in rows_of:
            rows.append(row)
            if args.json:
                with args.json.open("a") as f:
                    f.write(json.dumps(row | {"date": str(datetime.date.today()), "device": device}) + "\n")
    print_table(rows)


if __name__ == "__main__":
    main()
