"""The result types of the generator, shared with sets.py and the hand-written sets."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    """A question with its accepted answers (each verbatim in the gold memory) and the gold memory id.

    Multi-hop questions (chains.py) list their gold ids in hop order, the answer's memory last; `hops` counts
    them (1 for every question of the ordinary sets and the hand-written ones).
    """

    question: str
    answers: tuple[str, ...]
    gold: tuple[str, ...]
    hops: int = 1


@dataclass(frozen=True)
class AbsentQuestion:
    """A question whose answer is in no memory; `near` lists memories about the same subject."""

    question: str
    near: tuple[str, ...]


@dataclass(frozen=True)
class EvalSet:
    """Memories as (id, text), answerable questions and absent questions."""

    name: str
    memories: list[tuple[str, str]]
    questions: list[Question]
    absent: list[AbsentQuestion]
