"""Multi-hop question chains among the memories of an ordinary world (issue 19).

Why: "What does my childminder drive?" names neither the childminder nor the answer, so no single memory matches
it; a reader must find "My nanny is Imran Tanaka." and then "Imran Tanaka drives a Toyota Corolla.". 2-hop (role ->
person -> attribute), 3-hop (role -> person -> linked person or place -> attribute) and, as a control, 1-hop
questions about chain memories; absent ones ask an attribute the chain's last entity has stated nowhere.
Distractors (chainbuild.py) share the role, a surname or the answer's value, so word matching is misled while
every question keeps exactly one answer. Gold ids are in hop order, the answer's memory last.

The filler world is memories.MemoryBuilder with seed -1 - seed (a stream no reported gen-N set uses); chains and
questions draw from a stream of their own, seeded by the set's size, seed and chain count.
"""

from dataclasses import dataclass, replace

from .chainbuild import Chain, ChainBuilder
from .chaintext import ATTRS, ROLE_ASK, ask
from .evalset import AbsentQuestion, EvalSet, Question
from .questions import answers
from .render import cap

SHARES: tuple[float, float] = (0.6, 0.25)  # 2-hop and 3-hop shares of the questions; the rest are 1-hop
DISTRACTED = 0.6  # share of chains that get a distractor


@dataclass(frozen=True)
class ChainFact:
    """What generation knew about one chain question: the entity and relation asked ("" = who holds the role),
    the names a multi-hop question must not say, every memory id that names one of them, and whose role
    (anchor key and role nouns) starts the chain."""

    key: str
    relation: str
    hidden: tuple[str, ...]
    anchor: str
    nouns: tuple[str, ...]
    own: tuple[str, ...] = ()


@dataclass
class ChainWorld:
    """A chain EvalSet plus, per memory, the key it is about and, per question, what generation knew."""

    evalset: EvalSet
    about: list[str]
    question_facts: list[ChainFact]
    absent_facts: list[ChainFact]


def _phrases(b: ChainBuilder, c: Chain) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """How a question names the chain's last entity: through the role, and through the link for 3 hops."""
    role = f"{c.anchor.poss} {b.rng.choice(c.role.nouns)}"
    if c.link is None:
        return (role,), ()
    return tuple(p.replace("{r}", role) for p in c.link.phrase), tuple(p.replace("{r}", role) for p in c.link.plain)


def _fact(c: Chain, key: str, relation: str, hidden: tuple[str, ...] = ()) -> ChainFact:
    return ChainFact(key, relation, hidden, c.anchor.key, c.role.nouns)


def _ask(b: ChainBuilder, c: Chain, hops: int) -> tuple[str, tuple[str, ...], list[int], ChainFact]:
    """A question about chain c with hops hops: its text, answers, gold memory indexes and fact (ids later)."""
    r, value, bridge = b.rng, c.stated[c.rel.name], c.hidden[0]
    if hops == 1 and r.random() < 0.5:  # who holds the role (the first memory)
        text = cap(r.choice(ROLE_ASK).replace("{r}", _phrases(b, c)[0][0]))
        return text, (bridge,), c.mems[:1], _fact(c, c.anchor.key, "")
    if hops == 1:  # the attribute, naming the bridge (the last memory)
        return ask(r, c.rel, (bridge,)), answers(c.rel, value), c.mems[-1:], _fact(c, bridge, c.rel.name)
    alts = answers(c.rel, value)
    for _ in range(20):
        text = ask(r, c.rel, *_phrases(b, c))
        if not any(a.lower() in text.lower() for a in alts):
            break
    return text, alts, c.mems, _fact(c, c.hidden[-1], c.rel.name, tuple(c.hidden))


def build_chains(n_memories: int, n_chains: int = 120, seed: int = 0) -> ChainWorld:
    """A deterministic chain set: a world of n_memories filler memories plus the chains' memories and questions."""
    b = ChainBuilder(n_memories, n_chains, seed)
    r = b.rng
    n2, n3 = round(n_chains * SHARES[0]), round(n_chains * SHARES[1])
    plan = [2] * n2 + [3] * n3 + [1] * (n_chains - n2 - n3)
    r.shuffle(plan)
    asked, chains = [], []
    for hops in plan:
        c = b.chain(hops)
        if r.random() < DISTRACTED:
            b.distract(c)
        asked.append(_ask(b, c, hops))
        chains.append((c, hops))
    multi = [c for c, hops in chains if hops > 1]
    absent = []
    for c in r.sample(multi, min(n_chains // 4, len(multi))):
        rel = r.choice([x for x in ATTRS[c.kind] if x.name not in c.stated])
        absent.append((ask(r, rel, *_phrases(b, c)), c.own, _fact(c, c.hidden[-1], rel.name, tuple(c.hidden))))

    # filler and chain memories interleaved at random places, then numbered in order
    n_fill, n_chain = len(b.world.memories), len(b.texts)
    slots = set(r.sample(range(n_fill + n_chain), n_chain))
    order = list(range(n_chain))
    r.shuffle(order)
    fill, take = iter(range(n_fill)), iter(order)
    memories, about, where = [], [], [0] * n_chain
    for i in range(n_fill + n_chain):
        if i in slots:
            j = next(take)
            where[j] = i
            memories.append((f"g-{i:05d}", b.texts[j]))
            about.append(b.about[j])
        else:
            j = next(fill)
            memories.append((f"g-{i:05d}", b.world.memories[j]))
            about.append(b.world.mem_subject[j].key)

    def ids(mems: list[int]) -> tuple[str, ...]:
        return tuple(memories[where[m]][0] for m in mems)

    questions = [Question(text, alts, ids(gold), len(gold)) for text, alts, gold, _ in asked]
    facts = [replace(f, own=ids(c.own)) for (_, _, _, f), (c, _) in zip(asked, chains, strict=True)]
    evalset = EvalSet(f"ood-chains-{n_memories}-seed{seed}", memories, questions,
                      [AbsentQuestion(text, ids(mems)) for text, mems, _ in absent])
    absent_facts = [replace(f, own=ids(mems)) for _, mems, f in absent]
    return ChainWorld(evalset, about, facts, absent_facts)
