"""The out-of-distribution evaluation sets (eval/sets): well formed, deterministic, and out of training's reach."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from msa.eval import sets
from msa.eval.sets import generator

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["handwritten", "gen-100", "gen-dev-1000"])
def test_every_answer_is_in_its_gold_memory_and_absent_ones_are_nowhere(name):
    es = sets.load(name)
    text = dict(es.memories)
    assert len(text) == len(es.memories), "memory ids repeat"
    assert len(es.questions) >= 120 and len(es.absent) >= 40
    for q in es.questions:
        assert q.gold and all(g in text for g in q.gold), q
        assert any(a.lower() in text[g].lower() for a in q.answers for g in q.gold), q
    for a in es.absent:
        assert all(n in text for n in a.near), a


def test_handwritten_questions_paraphrase_their_memories():
    """Questions share few content words with the memory that answers them (mean under 0.2)."""
    es = sets.load("handwritten")
    text = dict(es.memories)

    def words(s: str) -> set[str]:
        return set(re.findall(r"[a-z]{4,}", s.lower()))

    overlaps = [len(words(q.question) & words(text[q.gold[0]])) / max(1, len(words(q.question)))
                for q in es.questions]
    assert sum(overlaps) / len(overlaps) < 0.2


def test_the_generator_is_deterministic_and_seeds_differ():
    a, b, c = generator.generate(300, seed=0), generator.generate(300, seed=0), generator.generate(300, seed=1)
    assert a == b
    assert a.memories != c.memories


def test_training_code_never_reads_the_evaluation_sets():
    """Nothing that trains or ships (model/, memstore/, cli/ but `msa eval`) imports or opens msa.eval."""
    reach = re.compile(r"msa\.eval\b|eval/sets|oodgen|handwritten_")
    for folder in ("model", "cli", "memstore"):
        for path in (ROOT / folder).rglob("*.py"):
            if path != ROOT / "cli" / "eval.py":
                assert not reach.search(path.read_text()), path
