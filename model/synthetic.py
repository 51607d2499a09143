"""Generated memories and questions about fictional entities, for routing evaluation and training.

Every fact is about a freshly generated name, so a model cannot know the answer beforehand: it has to
find the memory. A question is answerable from exactly one memory, its gold document.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ONSETS = "b br c ch d dr f g gr h j k kl l m n p pr qu r s sh st t tr v w z".split()
VOWELS = "a e i o u ai ea io ou y".split()
CODAS = ["", "", "n", "r", "l", "s", "th", "nd", "rk", "m", "x"]


@dataclass(frozen=True)
class Relation:
    name: str
    documents: tuple[str, ...]  # templates with {s} (subject) and {v} (value)
    questions: tuple[str, ...]  # templates with {s}
    values: tuple[str, ...]  # candidate values ("@name" = a generated name, "@num" = a number)


RELATIONS = (
    Relation("pet", ("{s} has a pet called {v}.", "The pet of {s} is named {v}."),
             ("What is the name of {s}'s pet?", "What is {s}'s pet called?"), ("@name",)),
    Relation("birthplace", ("{s} was born in {v}.", "{s} comes from the town of {v}."),
             ("Where was {s} born?", "Which town does {s} come from?"), ("@name",)),
    Relation("job", ("{s} works as a {v}.", "By profession, {s} is a {v}."),
             ("What is {s}'s job?", "What does {s} do for a living?"),
             ("baker", "pilot", "nurse", "carpenter", "librarian", "chemist", "gardener", "tailor")),
    Relation("instrument", ("{s} plays the {v}.", "The instrument {s} plays is the {v}."),
             ("Which instrument does {s} play?", "What instrument is played by {s}?"),
             ("cello", "flute", "harp", "trumpet", "violin", "drums", "oboe", "banjo")),
    Relation("color", ("The favourite colour of {s} is {v}.", "{s} likes the colour {v} best."),
             ("What is {s}'s favourite colour?", "Which colour does {s} like best?"),
             ("crimson", "teal", "amber", "violet", "olive", "indigo", "scarlet", "ivory")),
    Relation("age", ("{s} is {v} years old.", "The age of {s} is {v}."),
             ("How old is {s}?", "What is the age of {s}?"), ("@num",)),
    Relation("food", ("{s} loves eating {v}.", "The favourite food of {s} is {v}."),
             ("What does {s} love to eat?", "What is {s}'s favourite food?"),
             ("noodles", "dumplings", "pancakes", "lentil soup", "mangoes", "olives", "tacos", "figs")),
    Relation("vehicle", ("{s} drives a {v}.", "The car of {s} is a {v}."),
             ("What does {s} drive?", "What kind of car does {s} have?"),
             ("red van", "blue truck", "green jeep", "white tractor", "black coupe", "yellow bus")),
    Relation("employer", ("{s} is employed by the {v} Company.", "{s} has a job at the {v} Company."),
             ("Which company employs {s}?", "Where does {s} have a job?"), ("@name",)),
    Relation("sibling", ("The sister of {s} is called {v}.", "{s} has a sister named {v}."),
             ("What is the name of {s}'s sister?", "Who is {s}'s sister?"), ("@name",)),
)


def make_name(rng: random.Random, words: int = 2) -> str:
    def word() -> str:
        syllables = rng.randint(2, 3)
        w = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(syllables)) + rng.choice(CODAS)
        return w.capitalize()
    return " ".join(word() for _ in range(words))


@dataclass(frozen=True)
class Fact:
    document: str
    question: str
    answer: str
    relation: str


def make_facts(n: int, seed: int = 0, relations: tuple[Relation, ...] = RELATIONS) -> list[Fact]:
    """n one-sentence facts about n distinct generated people, each with a question and its answer."""
    rng = random.Random(seed)
    subjects: set[str] = set()
    facts = []
    while len(facts) < n:
        subject = make_name(rng)
        if subject in subjects:
            continue
        subjects.add(subject)
        rel = rng.choice(relations)
        value = rng.choice(rel.values)
        if value == "@name":
            value = make_name(rng, 1)
        elif value == "@num":
            value = str(rng.randint(18, 90))
        facts.append(Fact(document=rng.choice(rel.documents).format(s=subject, v=value),
                          question=rng.choice(rel.questions).format(s=subject), answer=value,
                          relation=rel.name))
    return facts
