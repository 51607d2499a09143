"""Self-checks on a generated set, against its text rather than the registry that promised them.

A question must be stated by its gold memory and by no other; an absent question by no memory at all.
"""

import re

from .questions import World
from .relations import RELATIONS, Relation, embeddable


def _patterns(rel: Relation, key: str) -> list[re.Pattern[str]]:
    """Regexes matching any memory sentence of rel about exactly this subject key, with any value."""
    subject = r"(?<![\w-])" + re.escape(key) + r"(?!\w)"
    out = []
    for t in rel.mem:
        parts = re.split(r"(\{s\}|\{v\})", t.lstrip("~!").rstrip("."))
        out.append(re.compile("".join(subject if p == "{s}" else ".+?" if p == "{v}" else re.escape(p)
                                      for p in parts), re.IGNORECASE))
    return out


def check(world: World) -> None:
    """Raises AssertionError unless questions are answerable by their gold memory only and absent ones by none."""
    es = world.evalset
    texts = [t for _, t in es.memories]
    lowered = [t.lower() for t in texts]
    index = {mid: i for i, (mid, _) in enumerate(es.memories)}
    assert len(index) == len(texts) and all(re.fullmatch(r"g-\d{5,}", mid) for mid in index)
    labels = [lab for rel in RELATIONS for lab in rel.labels]
    assert len(set(labels)) == len(labels), "terse labels must be unique"
    assert all(f"{a}:" not in f"x {b}:" for a in labels for b in labels if a != b), "a label ends another"
    for rel in RELATIONS:
        assert len(rel.mem) >= 3 and len(rel.ask) >= 3 and any(embeddable(t) for t in rel.mem), rel.name

    def stating(key: str, rel: Relation) -> list[int]:
        pats = _patterns(rel, key)
        hits = []
        for i, low in enumerate(lowered):
            if key.lower() not in low:
                continue
            labelled = world.mem_subject[i].key == key and any(f"{lab.lower()}: " in low for lab in rel.labels)
            if labelled or any(p.search(texts[i]) for p in pats):
                hits.append(i)
        return hits

    for q, (key, rel) in zip(es.questions, world.question_facts, strict=True):
        assert len(q.gold) == 1, q
        gold = index[q.gold[0]]
        assert world.facts[(key, rel.name)] == gold
        assert key in q.question and key.lower() in lowered[gold], q
        for a in q.answers:
            assert a.lower() in lowered[gold], (q, texts[gold])
        assert stating(key, rel) == [gold], (q, stating(key, rel))
    for a, (key, rel) in zip(es.absent, world.absent_facts, strict=True):
        assert (key, rel.name) not in world.facts, a
        assert not stating(key, rel), (a, [texts[i] for i in stating(key, rel)])
        assert a.near and all(world.mem_subject[index[m]].key == key for m in a.near), a
        assert key in a.question
