"""One evaluation set, every retriever: routing recall@1/4/16 of our model beside BM25 and MiniLM-L6 exact
cosine (and each fused with ours by reciprocal rank), then answers read by the same reader from each
retriever's top k notes, with latency. `msa eval` and bench/ood_eval.py run it.

Recall@k: the gold memory among the top k of the ranking that text reading uses. A reply is right when it
contains an accepted answer and does not abstain; our model answers through `generate` (its own routing), a
baseline through `read` on its top k notes (best last, as `generate` places them); `gold` = the reader given
only the right memory. Absent questions (answer in no memory): the share abstained on, beside the share of
answerable questions wrongly abstained on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from tqdm import tqdm

from msa.eval.baselines import BASELINES, rankings
from msa.eval.metrics import KS, abstained, fused, latency, question_lists, recall, right
from msa.eval.sets import EvalSet
from msa.model.api import MSAModel
from msa.model.memory import Memory

READERS = ("ours", *BASELINES, "gold")  # whose notes the reader answers from: our routing, a baseline's, the gold


def baseline_rankings(es: EvalSet, names: tuple[str, ...] = BASELINES) -> dict[str, list[list[int]]]:
    """Each named baseline's top 16 for the answerable then absent questions."""
    questions, _ = question_lists(es)
    return {b: rankings(b, [t for _, t in es.memories], questions) for b in names}


def answer_rates(replies: list[str], es: EvalSet) -> dict[str, float]:
    n = len(es.questions)
    answered, absent = replies[:n], replies[n:]
    return {"answered": sum(right(r, q.answers) for r, q in zip(answered, es.questions, strict=True)) / n,
            "false_abstain": sum(map(abstained, answered)) / n,
            "abstain_absent": sum(map(abstained, absent)) / max(1, len(absent))}


def evaluate_set(model: MSAModel, label: str, es: EvalSet, baseline: dict[str, list[list[int]]],
                 top_ks: list[int], answers: bool, max_new_tokens: int, readers: tuple[str, ...] = READERS,
                 every: bool = False) -> Iterator[dict]:
    """Result rows as they are measured: recall of ours and the baselines, then answers per top_k. `every`:
    recall counts a question only when all its gold memories are found (multi-hop questions)."""
    questions, gold = question_lists(es)
    n = len(es.questions)
    memories = [t for _, t in es.memories]
    start = time.perf_counter()
    memory = Memory(model.encode_documents(memories))
    encode_s = time.perf_counter() - start
    shipped_k = model.config.msa.doc_top_k
    ours, route_s = [], []
    for q in tqdm(questions[:n], desc=f"{es.name}: routing", leave=False):
        start = time.perf_counter()
        ours.append([m for m, _ in model.route(q, memory, read_mode="text", top_k=shipped_k).ranking()[:16]])
        route_s.append(time.perf_counter() - start)
    yield {"set": es.name, "memories": len(memories), "retriever": label, "recall": recall(ours, gold, every),
           "encode_s": encode_s, "route_ms": latency(route_s, 1e3)}
    for b, r in baseline.items():
        yield {"set": es.name, "memories": len(memories), "retriever": b, "recall": recall(r[:n], gold, every)}
    for b, r in baseline.items():  # a hybrid: our ranking fused with a baseline's
        yield {"set": es.name, "memories": len(memories), "retriever": f"{label}+{b} (rrf)",
               "recall": recall(fused(ours, r[:n]), gold, every)}
    if not answers:
        return
    for k in top_ks if "ours" in readers else ():
        replies, answer_s = [], []
        for q in tqdm(questions, desc=f"{es.name}: {label} answers top_k {k}", leave=False):
            start = time.perf_counter()
            replies.append(model.generate(q, memory, top_k=k, read_mode="text", max_new_tokens=max_new_tokens).text)
            answer_s.append(time.perf_counter() - start)
        yield ({"set": es.name, "retriever": label, "top_k": k, "answer_s": latency(answer_s)}
               | answer_rates(replies, es))
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
           "answered": answer_rates(replies, EvalSet(es.name, es.memories, es.questions, []))["answered"]}


def print_tables(rows: list[dict], echo: Callable[[str], None] = print) -> None:
    """Markdown tables of `evaluate_set`'s rows: recall (with routing latency), then answers."""
    echo("| set | memories | retriever | recall@1 | recall@4 | recall@16 | route p50 / p95 (ms) |")
    echo("|---|---|---|---|---|---|---|")
    for r in rows:
        if "recall" in r:
            timing = f"{r['route_ms'][0]:.1f} / {r['route_ms'][1]:.1f}" if "route_ms" in r else ""
            echo(f"| {r['set']} | {r['memories']} | {r['retriever']} | "
                 + " | ".join(f"{r['recall'][k]:.3f}" for k in KS) + f" | {timing} |")
    if any("top_k" in r for r in rows):
        echo("\n| set | retriever | top_k | answered | abstained when absent | abstained when answerable | "
             "answer p50 / p95 (s) |")
        echo("|---|---|---|---|---|---|---|")
        for r in rows:
            if "top_k" in r:
                timing = f"{r['answer_s'][0]:.2f} / {r['answer_s'][1]:.2f}" if "answer_s" in r else ""
                echo(f"| {r['set']} | {r['retriever']} | {r['top_k']} | {r['answered']:.3f} | "
                     f"{r.get('abstain_absent', float('nan')):.3f} | {r.get('false_abstain', float('nan')):.3f} | "
                     f"{timing} |")
