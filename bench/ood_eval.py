"""Out-of-distribution evaluation: routing recall and answers on memories never used in training or tuning,
beside BM25 and MiniLM-L6 exact cosine with the same reader and the same number of notes.

    python bench/ood_eval.py --save-baselines bench/ood_baselines.json     # BM25 / MiniLM rankings (CPU)
    python bench/ood_eval.py [--checkpoint DIR ...] [--sets handwritten gen-100 gen-1000 gen-10000]
                             [--answers] [--top-k 1 2 4] [--baselines FILE] [--device cuda] [--json OUT]

Sets (eval/sets/README.md): `handwritten` (320 hand-written agent memories) and `gen-N` (a generator written
separately from every training generator). Recall@k: the gold memory among the top k of the ranking that
text reading uses. Answers: a reply is right when it contains an accepted answer; our model answers through
`generate` (its own routing), a baseline through `read` on its top k notes (best last, as `generate` places
them). `CKPT+bm25 (rrf)`: recall of our ranking fused with a baseline's (a hybrid). Absent questions (their
answer is in no memory): the share answered "don't know" (abstained) beside the share of answerable questions
wrongly abstained on. `gold` = the reader given only the right memory.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm import tqdm

from msa.eval import sets
from msa.eval.baselines import BASELINES, rankings
from msa.eval.metrics import KS, abstained, fused, question_lists, recall, right
from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.memory import Memory

READERS = ("ours", *BASELINES, "gold")  # whose notes the reader answers from: our routing, a baseline's, the gold


def baseline_rankings(es: sets.EvalSet) -> dict[str, list[list[int]]]:
    """Every baseline's top 16 for the answerable then absent questions."""
    questions, _ = question_lists(es)
    return {b: rankings(b, [t for _, t in es.memories], questions) for b in BASELINES}


def save_baselines(names: list[str], path: Path) -> None:
    """Rank the named sets with every baseline into `path` (other sets already saved there are kept)."""
    out = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        es = sets.load(name)
        out[name] = baseline_rankings(es)
        print(f"{name}: {len(es.memories)} memories ranked", flush=True)
    path.write_text(json.dumps(out))


def answer_rates(replies: list[str], es: sets.EvalSet) -> dict[str, float]:
    n = len(es.questions)
    answered, absent = replies[:n], replies[n:]
    return {"answered": sum(right(r, q.answers) for r, q in zip(answered, es.questions, strict=True)) / n,
            "false_abstain": sum(map(abstained, answered)) / n,
            "abstain_absent": sum(map(abstained, absent)) / max(1, len(absent))}


def evaluate_set(model: MSAModel, label: str, es: sets.EvalSet, baseline: dict[str, list[list[int]]],
                 top_ks: list[int], answers: bool, max_new_tokens: int, readers: tuple[str, ...] = READERS
                 ) -> Iterator[dict]:
    """Result rows as they are measured: recall of ours and the baselines, then answers per top_k."""
    questions, gold = question_lists(es)
    n = len(es.questions)
    memories = [t for _, t in es.memories]
    start = time.perf_counter()
    memory = Memory(model.encode_documents(memories))
    encode_s = time.perf_counter() - start
    shipped_k = model.config.msa.doc_top_k
    ours = [[m for m, _ in model.route(q, memory, read_mode="text", top_k=shipped_k).ranking()[:16]]
            for q in tqdm(questions[:n], desc=f"{es.name}: routing", leave=False)]
    yield {"set": es.name, "memories": len(memories), "retriever": label, "recall": recall(ours, gold),
           "encode_s": encode_s}
    for b, r in baseline.items():
        yield {"set": es.name, "memories": len(memories), "retriever": b, "recall": recall(r[:n], gold)}
    for b, r in baseline.items():  # a hybrid: our ranking fused with a baseline's
        yield {"set": es.name, "memories": len(memories), "retriever": f"{label}+{b} (rrf)",
               "recall": recall(fused(ours, r[:n]), gold)}
    if not answers:
        return
    for k in top_ks if "ours" in readers else ():
        replies = [model.generate(q, memory, top_k=k, read_mode="text", max_new_tokens=max_new_tokens).text
                   for q in tqdm(questions, desc=f"{es.name}: {label} answers top_k {k}", leave=False)]
        yield {"set": es.name, "retriever": label, "top_k": k} | answer_rates(replies, es)
    for k in top_ks:
        for b, ranked in ((b, r) for b, r in baseline.items() if b in readers):
            replies = [model.read(q, [(m, memories[m]) for m in ranked[i][:k]][::-1], max_new_tokens)
                       for i, q in enumerate(tqdm(questions, desc=f"{es.name}: {b} answers top_k {k}", leave=False))]
            yield {"set": es.name, "retriever": b, "top_k": k} | answer_rates(replies, es)
    if "gold" not in readers:
        return
    replies = [model.read(q.question, [(m, memories[m]) for m in sorted(g)], max_new_tokens)
               for q, g in zip(es.questions, gold, strict=True)]
    yield {"set": es.name, "retriever": "gold", "top_k": 1,
           "answered": answer_rates(replies, sets.EvalSet(es.name, es.memories, es.questions, []))["answered"]}


def print_tables(rows: list[dict]) -> None:
    print("| set | memories | retriever | recall@1 | recall@4 | recall@16 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "recall" in r:
            print(f"| {r['set']} | {r['memories']} | {r['retriever']} | "
                  + " | ".join(f"{r['recall'][k]:.3f}" for k in KS) + " |")
    if any("top_k" in r for r in rows):
        print("\n| set | retriever | top_k | answered | abstained when absent | abstained when answerable |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            if "top_k" in r:
                print(f"| {r['set']} | {r['retriever']} | {r['top_k']} | {r['answered']:.3f} | "
                      f"{r.get('abstain_absent', float('nan')):.3f} | {r.get('false_abstain', float('nan')):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, nargs="*", help="default: the embedded default model")
    ap.add_argument("--sets", nargs="+", default=["handwritten", "gen-100", "gen-1000", "gen-10000"])
    ap.add_argument("--answers", action="store_true", help="also answer every question (slow on CPU)")
    ap.add_argument("--top-k", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--readers", nargs="+", choices=READERS, default=list(READERS),
                    help="with --answers: whose notes to answer from")
    ap.add_argument("--baselines", type=Path, help="rankings saved by --save-baselines (else computed here)")
    ap.add_argument("--save-baselines", type=Path, help="rank every set with BM25 and MiniLM into this file")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="append every result row to this JSON-lines file")
    args = ap.parse_args()
    if args.save_baselines:
        save_baselines(args.sets, args.save_baselines)
        return
    saved = json.loads(args.baselines.read_text()) if args.baselines else {}
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"{datetime.date.today()}; {args.device} ({device_name})")
    rows = []
    for path in args.checkpoint or [default_model()]:
        model = MSAModel.from_pretrained(path, device=args.device)
        for name in args.sets:
            es = sets.load(name)
            if name not in saved:
                saved[name] = baseline_rankings(es)
            for row in evaluate_set(model, path.name, es, saved[name], args.top_k, args.answers,
                                    args.max_new_tokens, tuple(args.readers)):
                rows.append(row)
                if args.json:
                    with args.json.open("a") as f:
                        f.write(json.dumps(row | {"checkpoint": str(path), "date": str(datetime.date.today()),
                                                  "device": device_name}) + "\n")
    print_tables(rows)


if __name__ == "__main__":
    main()
