"""Questions about the memories: answerable ones with one gold memory each, and absent ones answered by none.

Questions draw from a random stream of their own (seeded by the set's size, seed and question counts), so
the memories of a set do not depend on how many questions are asked about them.
"""

import random
from dataclasses import dataclass

from .evalset import AbsentQuestion, EvalSet, Question
from .memories import MemoryBuilder, Subject
from .relations import BY_KIND, BY_NAME, Relation
from .render import cap


@dataclass
class World:
    """An EvalSet plus what generation knew: who each memory is about and which facts it states."""

    evalset: EvalSet
    subjects: list[Subject]
    mem_subject: list[Subject]
    facts: dict[tuple[str, str], int]  # (subject key, relation name) -> memory index
    question_facts: list[tuple[str, Relation]]
    absent_facts: list[tuple[str, Relation]]


def answers(rel: Relation, value: str) -> tuple[str, ...]:
    """The value plus shorter forms that a correct reply may use instead (each a substring of the value)."""
    alts = [value]
    if rel.value in ("rent", "fee", "budget"):
        alts.append(value[1:])
    elif rel.value in ("time_am", "time_pm", "oven", "pet_weight"):
        alts.append(value.split()[0])
    elif rel.value == "version":
        alts.append(value[1:])
    elif rel.value == "spot":
        alts.append(value.removeprefix("the "))
    return tuple(dict.fromkeys(alts))


def _answerable(b: MemoryBuilder, q_rng: random.Random, ids: list[str],
                n_questions: int) -> tuple[list[Question], list[tuple[str, Relation]]]:
    """One fact from each of n_questions memories spread evenly over the set (or any facts, if too few)."""
    n_mem = len(b.memories)
    picks: list[tuple[int, str]] = []
    if n_questions <= n_mem:
        for j in range(n_questions):
            lo, hi = j * n_mem // n_questions, (j + 1) * n_mem // n_questions
            m = q_rng.randrange(lo, max(hi, lo + 1))
            picks.append((m, q_rng.choice(sorted(b.values_of[m]))))
    else:
        every = [(m, name) for m in range(n_mem) for name in sorted(b.values_of[m])]
        picks = sorted(q_rng.sample(every, min(n_questions, len(every))))
    questions, question_facts = [], []
    for m, name in picks:
        rel, key = BY_NAME[name], b.mem_subject[m].key
        text = cap(q_rng.choice(rel.ask).replace("{s}", key))
        questions.append(Question(text, answers(rel, b.values_of[m][name]), (ids[m],)))
        question_facts.append((key, rel))
    return questions, question_facts


def _absent(b: MemoryBuilder, q_rng: random.Random, ids: list[str],
            n_absent: int) -> tuple[list[AbsentQuestion], list[tuple[str, Relation]]]:
    """A relation of the subject's kind that no memory states for it, for n_absent subjects.

    Distinct subjects first; a small set may need a second relation of some subjects.
    """
    candidates = [s for s in b.subjects if s.mems and len(s.stated) < len(BY_KIND[s.kind])]
    chosen = [(s, q_rng.choice([x for x in BY_KIND[s.kind] if x.name not in s.stated]))
              for s in q_rng.sample(candidates, min(n_absent, len(candidates)))]
    if len(chosen) < n_absent:
        taken = {(s.key, rel.name) for s, rel in chosen}
        rest = [(s, x) for s in candidates for x in BY_KIND[s.kind]
                if x.name not in s.stated and (s.key, x.name) not in taken]
        chosen += q_rng.sample(rest, min(n_absent - len(chosen), len(rest)))
    absent, absent_facts = [], []
    for s, rel in chosen:
        assert (s.key, rel.name) not in b.facts
        absent.append(AbsentQuestion(cap(q_rng.choice(rel.ask).replace("{s}", s.key)),
                                     tuple(ids[m] for m in s.mems)))
        absent_facts.append((s.key, rel))
    return absent, absent_facts


def build_world(n_memories: int, n_questions: int = 120, n_absent: int = 40, seed: int = 0) -> World:
    """A deterministic set of n_memories memories and its questions, with what generation knew about them."""
    b = MemoryBuilder(n_memories, seed)
    b.build_memories()
    ids = [f"g-{i:05d}" for i in range(len(b.memories))]
    q_rng = random.Random(f"ood-generator/{seed}/{n_memories}/questions/{n_questions}/{n_absent}")
    questions, question_facts = _answerable(b, q_rng, ids, n_questions)
    absent, absent_facts = _absent(b, q_rng, ids, n_absent)
    evalset = EvalSet(f"ood-gen-{n_memories}-seed{seed}", list(zip(ids, b.memories, strict=True)), questions,
                      absent)
    return World(evalset, b.subjects, b.mem_subject, b.facts, question_facts, absent_facts)
