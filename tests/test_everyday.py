"""The everyday-memory generator: determinism, answerability, evidence, abstention, diversity, paraphrase."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from msa.model.train.everyday import abstain_questions, make_everyday_dataset
from msa.model.train.everyday.absent import abstain_items
from msa.model.train.everyday.relations import RELATIONS, resolve
from msa.model.train.everyday.styles import KINDS
from msa.model.train.everyday.subjects import EverydayDataset
from msa.model.train.everyday.words import FIRST_NAMES, SURNAMES
from msa.model.train.synthetic import Dataset

STOP = set(re.findall(r"\w+", """
a an the and or but of to in on at for with from by about as is are was were be been am do does did have has had i me
my mine you your we our they them their it its this that these those what which who whom whose when where why how
there here if then than so not no can could should would will may might must s t d ll re ve m just also any some each
every up out over into off very much many more most one get got"""))


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP}


@pytest.fixture(scope="module")
def ds() -> EverydayDataset:
    return make_everyday_dataset(5000, 5000, seed=0)


def test_deterministic_per_seed():
    a, b = make_everyday_dataset(400, 300, seed=3), make_everyday_dataset(400, 300, seed=3)
    assert a.memories == b.memories and a.examples == b.examples
    assert make_everyday_dataset(400, 300, seed=4).memories != a.memories
    assert abstain_questions(a, 50, seed=1) == abstain_questions(b, 50, seed=1)


def test_sizes(ds):
    assert len(ds.memories) == 5000 and len(ds.examples) == 5000
    assert all(ds.memories)
    per_memory = Counter(i for s in ds.subjects for i in s.memory_of.values())
    assert sorted(per_memory) == list(range(5000))  # every memory states at least one fact
    assert max(per_memory.values()) <= 5


def test_answers_are_in_their_gold_memory(ds):
    two_hop = 0
    for e in ds.examples:
        assert all(0 <= g < len(ds.memories) for g in e.gold)
        if e.hops == 1:
            assert len(e.gold) == 1
            assert e.answer.lower() in ds.memories[e.gold[0]].lower(), e
        else:
            two_hop += 1
            assert e.hops == 2 and len(e.gold) == 2 and e.gold[0] != e.gold[1]
            assert e.answer.lower() in ds.memories[e.gold[1]].lower(), e
            assert e.subject.lower() in ds.memories[e.gold[0]].lower(), e  # the first hop names the second subject
    assert 0.02 < two_hop / len(ds.examples) < 0.1


def test_evidence_states_the_answer_and_names_the_subject(ds):
    for e in ds.examples:
        assert e.answer.lower() in e.evidence.lower(), e
        assert e.subject.lower() in e.evidence.lower(), e
        assert e.relation in RELATIONS


def test_abstain_questions_ask_what_no_memory_states(ds):
    items = abstain_items(ds, 300, seed=7)
    assert len(items) == 300
    for subject, rel, question, memories in items:
        assert rel.kind == subject.kind
        assert rel.name not in subject.memory_of and rel.name not in subject.implied
        assert rel.name not in subject.facts
        assert memories == tuple(sorted(set(subject.memory_of.values())))
        names = [resolve(name, first=True).lower() for name in (subject.s, *subject.aliases)]
        assert subject.kind == "user" or any(name in question.lower() for name in names), question
    assert [(q, m) for _, _, q, m in items] == abstain_questions(ds, 300, seed=7)
    with pytest.raises(TypeError):
        abstain_questions(Dataset([], []), 1, seed=0)


def test_diversity(ds):
    stated = {rel for s in ds.subjects for rel in s.memory_of}
    assert len(stated) >= 60
    assert len({e.relation for e in ds.examples}) >= 60
    assert len(set(ds.templates)) >= 200
    assert {s.kind for s in ds.subjects} == set(KINDS)
    styles = {"chat": r"^(User|Assistant): ", "terse": r"^\S.* — .+: ", "minutes": r"\n- ",
              "commit": r"^[0-9a-f]{7} \w+\(", "diary": r"^(Dear diary|Diary)"}
    for style, pattern in styles.items():
        assert sum(bool(re.search(pattern, m)) for m in ds.memories) > 50, style


def test_hard_negatives(ds):
    people = [s for s in ds.subjects if s.kind == "person"]
    assert max(Counter(p.first for p in people).values()) >= 5
    assert max(Counter(p.last for p in people).values()) >= 5
    user = next(s for s in ds.subjects if s.kind == "user")
    assert len(set(user.memory_of.values())) >= 5
    values = Counter(v for s in ds.subjects for v in s.facts.values())
    assert sum(n > 1 for n in values.values()) >= 100  # values shared across subjects


def test_questions_paraphrase_their_memory(ds):
    """Few question words occur in the gold memory; apart from the subject's name, very few, yet some reuse."""
    names = {s.display: set().union(*(content_words(resolve(n, f)) for n in (s.s, *s.aliases) for f in (True, False)))
             for s in ds.subjects}
    overlaps, beside_name, reuse = [], [], 0
    for e in ds.examples:
        if e.hops == 1:
            q, m = content_words(e.question), content_words(ds.memories[e.gold[0]])
            overlaps.append(len(q & m) / len(q))
            rest = q - names[e.subject]
            beside_name.append(len(rest & m) / max(len(rest), 1))
            reuse += bool(rest & m)
    assert sum(overlaps) / len(overlaps) < 0.5
    assert sum(beside_name) / len(beside_name) < 0.2
    assert 0.15 < reuse / len(overlaps) < 0.5  # some questions do reuse a key word, as users do


def test_tables():
    assert len(set(FIRST_NAMES)) >= 200 and len(set(SURNAMES)) >= 200
    assert len(RELATIONS) >= 60
    assert all(len(r.facts) >= 4 and len(r.questions) >= 4 for r in RELATIONS.values())


def test_fast():
    start = time.perf_counter()
    make_everyday_dataset(10_000, 10_000, seed=1)
    assert time.perf_counter() - start < 10
