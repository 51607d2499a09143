"""Questions no memory answers: a subject's relation that none of its memories states."""

from __future__ import annotations

import random

from msa.model.train.everyday.generator import EverydayDataset
from msa.model.train.everyday.relations import BY_KIND, Relation
from msa.model.train.everyday.subjects import Subject, ask, question_name
from msa.model.train.synthetic import Dataset


def abstain_items(ds: Dataset, n: int, seed: int) -> list[tuple[Subject, Relation, str, tuple[int, ...]]]:
    """-> (subject, relation no memory states for it, question, the subject's memories) `n` times."""
    if not isinstance(ds, EverydayDataset):
        raise TypeError("abstain questions need a dataset from make_everyday_dataset")
    rng = random.Random(f"abstain-{seed}")
    subjects = [s for s in ds.subjects if s.memory_of]
    out: list[tuple[Subject, Relation, str, tuple[int, ...]]] = []
    for _ in range(50 * n + 100):
        if len(out) == n or not subjects:
            break
        subject = rng.choice(subjects)
        missing = [r for r in BY_KIND[subject.kind] if r.name not in (*subject.memory_of, *subject.implied)]
        if missing:
            rel = rng.choice(missing)
            question, _ = ask(rng, rel, *question_name(rng, subject))
            out.append((subject, rel, question, tuple(sorted(set(subject.memory_of.values())))))
    return out


def abstain_questions(ds: Dataset, n: int, seed: int) -> list[tuple[str, tuple[int, ...]]]:
    """Questions about subjects in `ds` that no memory answers, each with that subject's memories (near misses)."""
    return [(question, memories) for _, _, question, memories in abstain_items(ds, n, seed)]
