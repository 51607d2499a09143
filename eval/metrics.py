"""What the evaluations count: recall@k of a ranking, a reply that answers or abstains, and rank fusion."""

from __future__ import annotations

from msa.eval.sets import EvalSet

KS = (1, 4, 16)
# Phrases that mean "the notes do not answer": the reader adapter is taught the first.
ABSTAIN = ("notes do not say", "do not know", "don't know", "not mentioned", "no information", "not stated",
           "do not mention", "doesn't say", "does not say", "not in the notes", "cannot find", "can't find")


def abstained(reply: str) -> bool:
    low = reply.lower()
    return any(p in low for p in ABSTAIN)


def right(reply: str, answers: tuple[str, ...]) -> bool:
    low = reply.lower()
    return any(a.lower() in low for a in answers) and not abstained(reply)


def recall(ranked: list[list[int]], gold: list[set[int]], every: bool = False) -> dict[int, float]:
    """Share of questions with a gold memory (`every`: all their gold memories) among the top k."""
    def found(r: list[int], g: set[int], k: int) -> bool:
        return g <= set(r[:k]) if every else bool(g & set(r[:k]))

    return {k: sum(found(r, g, k) for r, g in zip(ranked, gold, strict=True)) / len(gold) for k in KS}


def fused(first: list[list[int]], second: list[list[int]], k: int = 60) -> list[list[int]]:
    """Reciprocal-rank fusion of two rankings per question (sum of 1 / (k + rank)), best first."""
    out = []
    for a, b in zip(first, second, strict=True):
        score: dict[int, float] = {}
        for ranked in (a, b):
            for rank, m in enumerate(ranked):
                score[m] = score.get(m, 0.0) + 1.0 / (k + rank + 1)
        out.append(sorted(score, key=lambda m: (-score[m], m)))
    return out


def question_lists(es: EvalSet) -> tuple[list[str], list[set[int]]]:
    """Answerable then absent questions, and the gold memory numbers of the answerable ones."""
    number = {mid: i for i, (mid, _) in enumerate(es.memories)}
    texts = [q.question for q in es.questions] + [a.question for a in es.absent]
    return texts, [{number[g] for g in q.gold} for q in es.questions]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(seconds: list[float], unit: float = 1.0) -> tuple[float, float]:
    """(p50, p95) of per-call times, times `unit` (1e3: milliseconds)."""
    return percentile(seconds, 0.5) * unit, percentile(seconds, 0.95) * unit
