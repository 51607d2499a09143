"""Out-of-distribution evaluation sets by name: the hand-written memories and the separate generator.

Nothing here is ever read by training or tuning code (README.md). Names:
`handwritten` (both hand-written files in one store), `handwritten_life`, `handwritten_work`, and
`gen-N` (the separate generator with N memories, seed 0: reported) and `gen-dev-N` (seed 1: the only set
ingredient choices may look at; `handwritten` and `gen-N` are never used to choose anything), and
`chains-gen-N` / `chains-gen-dev-N` (its multi-hop chains over a world of N memories, seed 0 reported and seed 1
for development, the same rule; questions carry `hops` and gold ids in hop order).
"""

from __future__ import annotations

import json
from pathlib import Path

from .generator import AbsentQuestion, EvalSet, Question, generate, generate_chains

HERE = Path(__file__).resolve().parent
HANDWRITTEN = ("handwritten_life", "handwritten_work")
GENERATED_QUESTIONS, GENERATED_ABSENT = 120, 40
GENERATED_CHAINS = 120


def handwritten(name: str) -> EvalSet:
    raw = json.loads((HERE / f"{name}.json").read_text())
    return EvalSet(
        name=name,
        memories=[(m["id"], m["text"]) for m in raw["memories"]],
        questions=[Question(q["question"], tuple(q["answers"]), tuple(q["gold"]), q.get("hops", 1))
                   for q in raw["questions"]],
        absent=[AbsentQuestion(a["question"], tuple(a["near"])) for a in raw["absent"]],
    )


def merged(name: str, parts: list[EvalSet]) -> EvalSet:
    return EvalSet(name, [m for p in parts for m in p.memories], [q for p in parts for q in p.questions],
                   [a for p in parts for a in p.absent])


def load(name: str) -> EvalSet:
    """One evaluation set by name (see the module docstring)."""
    if name == "handwritten":
        return merged(name, [handwritten(n) for n in HANDWRITTEN])
    if name in HANDWRITTEN:
        return handwritten(name)
    for prefix, seed in (("chains-gen-dev-", 1), ("chains-gen-", 0)):
        if name.startswith(prefix) and name[len(prefix):].isdecimal():
            ds = generate_chains(int(name[len(prefix):]), GENERATED_CHAINS, seed=seed)
            return EvalSet(name, ds.memories, ds.questions, ds.absent)
    for prefix, seed in (("gen-dev-", 1), ("gen-", 0)):
        if name.startswith(prefix) and name[len(prefix):].isdecimal():
            ds = generate(int(name[len(prefix):]), GENERATED_QUESTIONS, GENERATED_ABSENT, seed=seed)
            return EvalSet(name, ds.memories, ds.questions, ds.absent)
    raise ValueError(f"unknown set {name!r}: use handwritten, {', '.join(HANDWRITTEN)}, gen-N, gen-dev-N, "
                     "chains-gen-N or chains-gen-dev-N")
