"""Subjects of memories, the dataset they make, and how questions name them."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from msa.model.train.everyday.relations import Relation, render, resolve
from msa.model.train.everyday.styles import FRAME_SHARE, FRAMES, QUESTION_STARTS
from msa.model.train.synthetic import Dataset


@dataclass
class Subject:
    """Someone or something the memories are about, and what they state about it."""

    kind: str
    s: str  # full name as a sentence subject, possibly with [first|third] choices
    short: str  # a later mention within the same memory
    first: str = ""  # people: first name and surname
    last: str = ""
    extra: str = ""  # pets: species; services and projects: a slug
    facts: dict[str, str] = field(default_factory=dict)  # relation -> value
    implied: list[str] = field(default_factory=list)  # relations other memories already state (never asked)
    memory_of: dict[str, int] = field(default_factory=dict)  # relation -> the memory that states it
    evidence: dict[str, str] = field(default_factory=dict)  # relation -> the stating sentence, subject explicit
    aliases: tuple[str, ...] = ()  # shorter names a question may use when no other subject fits them

    @property
    def p(self) -> str:
        return "[my|the user's]" if self.kind == "user" else f"{self.s}'s"

    @property
    def short_p(self) -> str:
        return self.p if self.kind == "user" else f"{self.short}'s"

    @property
    def display(self) -> str:
        """The explicit third-person name ("the user", "the user's dog Mochi", "Priya Natarajan")."""
        return resolve(self.s, first=False)


@dataclass
class EverydayDataset(Dataset):
    subjects: list[Subject] = field(default_factory=list, repr=False)
    templates: list[str] = field(default_factory=list, repr=False)  # each example's question template


def ask(rng: random.Random, rel: Relation, s: str, p: str) -> tuple[str, str]:
    """-> (a question about `rel` for the subject named `s`/`p`, in the user's voice; its template)."""
    template = rng.choice(rel.questions)
    question = render(template, s, p, "", first=True)
    if rng.random() < FRAME_SHARE:
        start = question.split(maxsplit=1)[0]
        low = question[:1].lower() + question[1:] if start in QUESTION_STARTS else question
        question = rng.choice(FRAMES).format(q=low, Q=question)
    return question, template


def name_words(name: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", name.lower())) - {"the", "a", "to", "for", "of", "from", "s"}


def question_name(rng: random.Random, subject: Subject) -> tuple[str, str]:
    """How a question names the subject: its full name or a short alias; -> (name, possessive)."""
    name = rng.choice((subject.s, *subject.aliases))
    return (resolve(name, True), resolve(subject.p if name == subject.s else f"{name}'s", True))
