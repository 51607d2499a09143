"""Self-checks on a generated set, against its text rather than the registry that promised them.

A question must be stated by its gold memory and by no other; an absent question by no memory at all.
Chain sets (check_chains) also: each hop's memory names the next hop's entity, which no question names and no
memory outside its chain mentions, and one memory only gives the anchor's role.
"""

import re
from bisect import bisect_right
from itertools import accumulate

from .chains import ChainFact, ChainWorld
from .chaintext import ATTR_BY_NAME, LINKS
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


def check_chains(world: ChainWorld) -> None:
    """Raises AssertionError unless every chain question is answered by its last gold memory only, reached through
    memories that name its hidden entities (named nowhere else), and every absent chain question by no memory."""
    es = world.evalset
    lowered = [t.lower() for _, t in es.memories]
    index = {mid: i for i, (mid, _) in enumerate(es.memories)}
    assert len(index) == len(lowered) and len(world.about) == len(lowered)
    rels = {r.name: r for r in (*RELATIONS, *ATTR_BY_NAME.values(), *(link.rel for link in LINKS))}
    labels = [lab for rel in rels.values() for lab in rel.labels]
    assert len(set(labels)) == len(labels), "terse labels must be unique"
    assert all(f"{a}:" not in f"x {b}:" for a in labels for b in labels if a != b), "a label ends another"
    text = "\0".join(lowered)
    starts = list(accumulate((len(t) + 1 for t in lowered), initial=0))

    def naming(name: str) -> set[int]:
        """The memories whose text contains name (any case)."""
        hits, low, at = set(), name.lower(), text.find(name.lower())
        while at >= 0:
            hits.add(bisect_right(starts, at) - 1)
            at = text.find(low, at + 1)
        return hits

    def stating(key: str, rel: Relation) -> list[int]:
        pats = _patterns(rel, key)
        return sorted(i for i in naming(key) if any(p.search(es.memories[i][1]) for p in pats)
                      or (world.about[i] == key and any(f"{lab.lower()}: " in lowered[i] for lab in rel.labels)))

    def holding(f: ChainFact) -> list[int]:
        """The memories about the anchor that name its role: exactly one holder per (anchor, role)."""
        pats = [re.compile(r"(?<!\w)" + re.escape(n.lower()) + r"(?!\w)") for n in f.nouns]
        return [i for i, about in enumerate(world.about)
                if about == f.anchor and any(p.search(lowered[i]) for p in pats)]

    for q, f in zip(es.questions, world.question_facts, strict=True):
        asked = q.question.lower()
        assert q.hops == len(q.gold) == len(set(q.gold)) and all(g in index for g in q.gold), q
        gold = [index[g] for g in q.gold]
        assert all(a.lower() in lowered[gold[-1]] for a in q.answers), (q, lowered[gold[-1]])
        assert not any(a.lower() in asked for a in q.answers), q
        if f.relation:
            assert stating(f.key, rels[f.relation]) == [gold[-1]], (q, stating(f.key, rels[f.relation]))
        else:
            assert holding(f) == gold, (q, holding(f))
        if q.hops > 1:
            assert holding(f) == gold[:1], (q, holding(f))
            assert not any(h.lower() in asked for h in f.hidden), q
            assert not any(a.lower() in lowered[g] for g in gold[:-1] for a in q.answers), q
            assert all(h.lower() in lowered[g] for h, g in zip(f.hidden, gold, strict=False)), q  # hop i names i+1
            assert set().union(*map(naming, f.hidden)) == {index[m] for m in f.own}, q
    for a, f in zip(es.absent, world.absent_facts, strict=True):
        assert a.near and all(m in index for m in a.near) and a.near == f.own, a
        assert not stating(f.key, rels[f.relation]), (a, stating(f.key, rels[f.relation]))
        assert not any(h.lower() in a.question.lower() for h in f.hidden), a
        assert set().union(*map(naming, f.hidden)) == {index[m] for m in f.own}, a
