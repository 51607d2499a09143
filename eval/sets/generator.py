"""A separate generator of evaluation sets for agent memory retrieval (out of distribution by construction).

Why it exists: the retrievers in this repository are trained on text from other generators, so scores measured
on those generators say little about text an agent would really store. This generator builds a world of its own
(its own subject kinds, relations, name lists, value pools and phrasings, written independently of any training
generator) so retrieval and answer accuracy can be measured on text no model here was fitted to.
Nothing it produces may ever be used for training or tuning (see README.md in this folder).

    python -m msa.eval.sets.generator    # samples, counts, self-checks and timings

Every question is answered by exactly one memory; every absent question asks a relation that no memory states
for its subject (both are kept in a fact registry while generating and re-checked against the text).
`generate_chains` builds multi-hop sets instead: an ordinary world's memories plus chains of memories whose
questions need 2 or 3 of them in turn (oodgen/chains.py); `generate` and its sets are untouched by it.
This module is the entry point; the parts live in oodgen/ (its __init__ lists them).
"""

import time

from .oodgen.chains import build_chains
from .oodgen.checks import check, check_chains
from .oodgen.evalset import AbsentQuestion, EvalSet, Question
from .oodgen.questions import build_world
from .oodgen.relations import KINDS, RELATIONS
from .oodgen.vocabulary import FIRST_NAMES, SURNAMES

__all__ = ["AbsentQuestion", "EvalSet", "Question", "generate", "generate_chains"]


def generate(n_memories: int, n_questions: int = 120, n_absent: int = 40, seed: int = 0) -> EvalSet:
    """A deterministic evaluation set of n_memories memories with its questions and absent questions."""
    return build_world(n_memories, n_questions, n_absent, seed).evalset


def generate_chains(n_memories: int, n_chains: int = 120, seed: int = 0) -> EvalSet:
    """A deterministic multi-hop set: a world of n_memories memories plus the memories of n_chains chains, with
    one question per chain (about 60% 2-hop, 25% 3-hop, 15% 1-hop; gold in hop order) and n_chains // 4 absent."""
    return build_chains(n_memories, n_chains, seed).evalset


def chains_main() -> None:
    """Prints counts and samples of a 1,000-memory chain set, checks it, and times three sizes."""
    es = generate_chains(1000)
    texts = dict(es.memories)
    hops = {h: sum(q.hops == h for q in es.questions) for h in (1, 2, 3)}
    print(f"\n-- chains\n{es.name}: {len(es.memories)} memories, questions by hops {hops}, {len(es.absent)} absent")
    for h in (3, 2, 1):
        q = next(q for q in es.questions if q.hops == h)
        print(f"Q: {q.question}\n   answers {q.answers}")
        for g in q.gold:
            print(f"   {g}: {texts[g]!r}")
    assert es == generate_chains(1000), "not deterministic"
    for n in (100, 1000, 10000):
        t0 = time.perf_counter()
        w = build_chains(n)
        dt = time.perf_counter() - t0
        check_chains(w)
        print(f"n={n}: chains generated in {dt:.2f} s; {len(w.evalset.memories)} memories; checks passed")


def main() -> None:
    """Prints samples and counts of a 1,000-memory set, checks it, and times three sizes; then the chain sets."""
    world = build_world(1000)
    es = world.evalset
    print(f"{es.name}: {len(es.memories)} memories, {len(es.questions)} questions, {len(es.absent)} absent; "
          f"{len(world.subjects)} subjects of {len(KINDS)} kinds, {len(RELATIONS)} relations, "
          f"{sum(len(r.mem) for r in RELATIONS)} memory and {sum(len(r.ask) for r in RELATIONS)} question templates, "
          f"{len(FIRST_NAMES)} first names, {len(SURNAMES)} surnames")
    print("\n-- memories")
    for mid, text in es.memories[:8]:
        print(f"{mid}: {text}")
    texts = dict(es.memories)
    print("\n-- questions")
    for q in es.questions[:6]:
        print(f"Q: {q.question}\n   answers {q.answers}; gold {q.gold[0]}: {texts[q.gold[0]]}")
    print("\n-- absent")
    for a in es.absent[:4]:
        print(f"Q: {a.question}\n   near {', '.join(a.near)}")
    check(world)
    assert generate(1000) == generate(1000), "not deterministic"
    print("\nchecks passed")
    for n in (100, 1000, 10000):
        t0 = time.perf_counter()
        w = build_world(n)
        dt = time.perf_counter() - t0
        check(w)
        multi = sum(len(s.mems) > 1 for s in w.subjects)
        print(f"n={n}: generated in {dt:.2f} s; {len(w.subjects)} subjects ({multi} in 2+ memories); checks passed")
    chains_main()


if __name__ == "__main__":
    main()
