"""Subjects and the memories about them, with a registry of which memory states which fact.

Each subject (a person, a household, a service ...) gets all but (usually) one relation of its kind, spread
over 1-4 facts per memory; the relation held back is what absent questions ask about. The registry is what
lets questions.py promise one gold memory per question and none per absent question.
"""

import random
from dataclasses import dataclass, field

from .pools import Pools
from .relations import BY_KIND, KINDS, Relation
from .render import MemoryWriter
from .vocabulary import (
    BUSINESS_TYPES,
    CARS,
    CLUB_ACTIVITIES,
    COMPANY_OCCASIONS,
    DEVICE_TYPES,
    DISHES,
    PERSONAL_OCCASIONS,
    PET_NAMES,
    PET_SPECIES,
    PLANTS,
    PROJECT_ADJECTIVES,
    PROJECT_NOUNS,
    SERVICE_A,
    SERVICE_B,
)

FACT_COUNT_WEIGHTS: tuple[float, ...] = (0.42, 0.3, 0.18, 0.1)  # 1, 2, 3 or 4 facts in one memory


@dataclass
class Subject:
    """What a memory is about: its key as written, its kind, the relations still to state and those stated."""

    key: str
    kind: str
    pending: list[Relation]
    stated: set[str] = field(default_factory=set)
    mems: list[int] = field(default_factory=list)


class MemoryBuilder:
    """Creates subjects and memories (1-4 facts each) from one random stream; questions.py asks about them."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = random.Random(f"ood-generator/{seed}/{n}")
        self.pools = Pools(self.rng, n)
        self.writer = MemoryWriter(self.rng, self.pools)
        self.keys: set[str] = set()
        self.addresses: set[str] = set()
        self.buildings: list[str] = []
        self.person_subjects: set[str] = set()
        self.value_people: set[str] = set()
        self.subjects: list[Subject] = []
        self.open: list[Subject] = []
        self.memories: list[str] = []
        self.mem_subject: list[Subject] = []
        self.facts: dict[tuple[str, str], int] = {}
        self.by_kind: dict[str, list[Subject]] = {k: [] for k in KINDS}
        self.values_of: list[dict[str, str]] = []  # per memory: relation name -> value

    # -- subjects ---------------------------------------------------------------------------------------------
    def _owner(self) -> str:
        """A person's name for a possessive key ("X's Skoda Octavia"); often a person already in the set."""
        people = self.by_kind["person"]
        if people and self.rng.random() < 0.4:
            return self.rng.choice(people).key
        return self.pools.person()

    def _address(self) -> str | None:
        """A street address no subject has used yet, or None when the streets are crowded."""
        for _ in range(40):
            a = f"{self.rng.randint(1, 240)} {self.rng.choice(self.pools.streets)}"
            if a not in self.addresses:
                self.addresses.add(a)
                return a
        return None

    def _key(self, kind: str) -> str | None:
        """A candidate key for a new subject of this kind (None: try again)."""
        r, p = self.rng, self.pools
        if kind == "person":
            name = p.person()
            return None if name in self.value_people else name
        if kind == "household":
            return self._address()
        if kind == "apartment":
            building = r.choice(self.buildings) if self.buildings and r.random() < 0.45 else self._address()
            if building is None:
                return None
            if building not in self.buildings:
                self.buildings.append(building)
            return f"Flat {r.randint(1, 6)}{r.choice('ABCD')}, {building}"
        if kind == "business":
            return f"{p.prefix()} {r.choice(BUSINESS_TYPES)}"
        if kind == "vehicle":
            return f"{self._owner()}'s {r.choice(CARS)}"
        if kind == "service":
            return f"the {r.choice(SERVICE_A)}-{r.choice(SERVICE_B)} service"
        if kind == "plant":
            return f"{self._owner()}'s {r.choice(PLANTS)}"
        if kind == "trip":
            return f"{self._owner()}'s trip to {r.choice(p.cities)}"
        if kind == "recipe":
            return f"{self._owner()}'s {r.choice(DISHES)}"
        if kind == "club":
            prefix = r.choice(p.street_bases) if r.random() < 0.5 else r.choice(p.places)
            return f"the {prefix} {r.choice(CLUB_ACTIVITIES)} Club"
        if kind == "device":
            homes, shops = self.by_kind["household"], self.by_kind["business"]
            where = r.choice(homes + shops).key if (homes or shops) and r.random() < 0.7 else r.choice(p.streets)
            return f"the {r.choice(DEVICE_TYPES)} at {where}"
        if kind == "pet":
            return f"{self._owner()}'s {r.choice(PET_SPECIES)} {r.choice(PET_NAMES)}"
        if kind == "project":
            noun = r.choice(PROJECT_NOUNS)
            return f"Project {noun}" if r.random() < 0.3 else f"Project {r.choice(PROJECT_ADJECTIVES)} {noun}"
        if kind == "event":
            roll = r.random()
            if roll < 0.6:
                return f"{self._owner()}'s {r.choice(PERSONAL_OCCASIONS)}"
            if roll < 0.85 and self.by_kind["business"]:
                return f"the {r.choice(self.by_kind['business']).key} {r.choice(COMPANY_OCCASIONS)}"
            return f"the {r.choice(p.streets)} street party"
        raise ValueError(kind)

    def _new_subject(self) -> Subject:
        """A subject with a key not used before and the relations it will have stated (one often held back)."""
        for _ in range(200):
            kind = self.rng.choice(KINDS)
            for _ in range(60):
                key = self._key(kind)
                if key is not None and key.lower() not in self.keys:
                    break
            else:
                continue
            self.keys.add(key.lower())
            if kind == "person":
                self.person_subjects.add(key)
            rels = list(BY_KIND[kind])
            self.rng.shuffle(rels)
            if self.rng.random() < 0.75:
                rels.pop()  # withheld: never stated, so it can be asked as an absent question
            subject = Subject(key, kind, rels)
            self.subjects.append(subject)
            self.by_kind[kind].append(subject)
            self.open.append(subject)
            return subject
        raise RuntimeError("ran out of distinct subject keys")

    # -- values -----------------------------------------------------------------------------------------------
    def _value(self, rel: Relation) -> str:
        """A value for one fact of rel, drawn from its pool."""
        if rel.value == "person":  # never a person who is also a subject, so no fact about them is implied
            for _ in range(100):
                name = self.pools.person()
                if name not in self.person_subjects:
                    self.value_people.add(name)
                    return name
            return "Dr " + self.pools.person()
        return self.rng.choice(self.pools.values[rel.value])

    # -- memories ---------------------------------------------------------------------------------------------
    def build_memories(self) -> None:
        """Writes memories until there are n, each about a new subject or one with relations still to state."""
        r = self.rng
        while len(self.memories) < self.n:
            if self.open and r.random() < 0.5:
                i = r.randrange(len(self.open))
                subject = self.open[i]
            else:
                subject = self._new_subject()
                i = len(self.open) - 1
            k = min(r.choices((1, 2, 3, 4), FACT_COUNT_WEIGHTS)[0], len(subject.pending))
            rels, subject.pending = subject.pending[:k], subject.pending[k:]
            if not subject.pending:
                self.open[i] = self.open[-1]
                self.open.pop()
            facts = [(rel, self._value(rel)) for rel in rels]
            m = len(self.memories)
            for rel, _ in facts:
                self.facts[(subject.key, rel.name)] = m
                subject.stated.add(rel.name)
            subject.mems.append(m)
            self.memories.append(self.writer.write(subject.key, facts))
            self.mem_subject.append(subject)
            self.values_of.append({rel.name: v for rel, v in facts})
