"""The chain builder: fresh bridge people and places, chain memories in hop order, and distractors.

Every name or place a chain introduces is in no other memory of the set (checked against the text as it is
reserved), and each (anchor, role) is held by one person only, so each chain question has exactly one answer.
All draws come from the chain stream, so their order is part of the chain sets.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

from .chaintext import ATTRS, LINKS, RELATIVES, ROLES, USER, Anchor, Link, Role, person, relative, role_memory
from .memories import MemoryBuilder
from .pools import Pools
from .questions import answers
from .relations import Relation
from .render import MemoryWriter
from .vocabulary import BUSINESS_TYPES, CARS, CLUB_ACTIVITIES, FIRST_NAMES, PET_SPECIES, PLACE_WORDS, SURNAMES


class _ChainPools(Pools):
    """The world's pools drawn from the chain stream, never naming a reserved person (bridges stay unique)."""

    def __init__(self, rng: random.Random, base: Pools, reserved: set[str]) -> None:
        self.__dict__.update(base.__dict__)  # the same lists, no new draws: Pools.__init__ would draw them again
        self.rng, self.reserved = rng, reserved

    def person(self) -> str:
        while True:
            name = super().person()
            if name not in self.reserved:
                return name


@dataclass
class Chain:
    """One chain: memory indexes in hop order, its entities, and what the last entity's memory states."""

    anchor: Anchor
    role: Role
    link: Link | None
    mems: list[int]
    hidden: list[str]
    kind: str
    stated: dict[str, str]
    rel: Relation
    own: list[int]


class ChainBuilder:
    """Builds chains and distractors, with their memories, over a world of n_memories memories (chains.py asks)."""

    def __init__(self, n_memories: int, n_chains: int, seed: int) -> None:
        self.world = MemoryBuilder(n_memories, -1 - seed)
        self.world.build_memories()
        self.rng = random.Random(f"ood-chains/{seed}/{n_memories}/{n_chains}")
        self.reserved: set[str] = set()
        self.reserved_low: list[str] = []
        self.writer = MemoryWriter(self.rng, _ChainPools(self.rng, self.world.pools, self.reserved))
        self.seen = "\n".join(self.world.memories).lower()
        self.texts: list[str] = []
        self.lows: list[str] = []
        self.about: list[str] = []
        self.taken: set[tuple[str, str]] = set()
        self.cars = [c for c in CARS if c[0] not in "AEIOU"]

    # -- entities ---------------------------------------------------------------------------------------------
    def _fresh(self, make: Callable[[], str]) -> str:
        """A name or key in no memory so far and overlapping no reserved one; reserved from now on."""
        for _ in range(2000):
            key = make()
            low = key.lower()
            if (low not in self.seen and not any(low in t for t in self.lows)
                    and not any(low in x or x in low for x in self.reserved_low)):
                self.reserved.add(key)
                self.reserved_low.append(low)
                return key
        raise RuntimeError("ran out of fresh names")

    def _entity(self, kind: str, surname: str | None = None) -> str:
        """A new person or place of kind, named nowhere else in the set."""
        r = self.rng
        if kind == "person":
            return self._fresh(lambda: f"{r.choice(FIRST_NAMES)} {surname or r.choice(SURNAMES)}")
        if kind == "household":
            return self._fresh(lambda: f"{r.randint(1, 240)} {r.choice(self.world.pools.streets)}")
        if kind == "business":
            return self._fresh(lambda: f"{r.choice(SURNAMES + PLACE_WORDS)} {r.choice(BUSINESS_TYPES)}")
        return self._fresh(lambda: f"the {r.choice(PLACE_WORDS)} {r.choice(CLUB_ACTIVITIES)} Club")

    def _anchor(self, role: Role, avoid: str = "") -> Anchor:
        """Whose role it is: the user, a relative or a person of the world, with (anchor, role) not yet taken."""
        r, people = self.rng, self.world.by_kind["person"]
        for _ in range(60):
            roll = r.random()
            a = USER if roll < 0.4 else relative(r.choice(RELATIVES)) if roll < 0.7 or not people \
                else person(r.choice(people).key)
            if a.key != avoid and (a.key, role.name) not in self.taken:
                break
        else:  # crowded (many chains over a small world): any free anchor, in a fixed order
            free = [a for a in (USER, *map(relative, RELATIVES), *(person(p.key) for p in people))
                    if a.key != avoid and (a.key, role.name) not in self.taken]
            if not free:
                raise RuntimeError("ran out of (anchor, role) pairs: ask for fewer chains")
            a = r.choice(free)
        self.taken.add((a.key, role.name))
        return a

    def _value(self, rel: Relation, avoid: str = "") -> str:
        """A value of rel from the world's pools (drawn from the chain stream), other than avoid."""
        pools = self.world.pools
        pool = {"city": pools.cities, "car": self.cars, "species": PET_SPECIES}.get(rel.value) \
            or pools.values[rel.value]
        return self.rng.choice([v for v in pool if v != avoid])

    # -- memories ---------------------------------------------------------------------------------------------
    def _add(self, text: str, about: str) -> int:
        self.texts.append(text)
        self.lows.append(text.lower())
        self.about.append(about)
        return len(self.texts) - 1

    def _write(self, about: str, make: Callable[[], str], avoid: tuple[str, ...] = ()) -> int:
        """A memory from make(), redrawn until it holds none of avoid (answers never in an earlier hop)."""
        for _ in range(50):
            text = make()
            if not any(a.lower() in text.lower() for a in avoid):
                return self._add(text, about)
        raise RuntimeError(f"could not keep {avoid} out of a memory about {about}")

    def _facts(self, key: str, rels: tuple[Relation, ...], rel: Relation, value: str) -> tuple[int, dict[str, str]]:
        """The memory stating rel (and now and then one more relation) of key."""
        facts = [(rel, value)]
        if self.rng.random() < 0.35:
            extra = self.rng.choice([x for x in rels if x is not rel])
            facts.insert(self.rng.randrange(2), (extra, self._value(extra)))
        m = self._write(key, lambda: self.writer.write(key, facts))
        return m, {x.name: v for x, v in facts}

    def chain(self, hops: int, anchor: Anchor | None = None, role: Role | None = None, link: Link | None = None,
              rel: Relation | None = None, avoid: str = "") -> Chain:
        """A chain of hops memories (1 is built as 2); the given parts are kept (a shadow chain for distractors)."""
        r = self.rng
        role = role or r.choice(ROLES)
        anchor = anchor or self._anchor(role)
        bridge = self._entity("person")
        link = link or (r.choice(LINKS) if hops == 3 else None)
        kind = link.rel.kind if link else "person"
        final = self._entity(kind) if link else bridge
        rel = rel or r.choice(ATTRS[kind])
        value = self._value(rel, avoid)
        last, stated = self._facts(final, ATTRS[kind], rel, value)
        keep_out = answers(rel, value)
        first = self._write(anchor.key, lambda: role_memory(self.writer, anchor, role, bridge), keep_out)
        mems = [first]
        if link:
            mems.append(self._write(bridge, lambda: self.writer.write(bridge, [(link.rel, final)]), keep_out))
        mems.append(last)
        hidden = [bridge, final] if link else [bridge]
        return Chain(anchor, role, link, mems, hidden, kind, stated, rel, list(mems))

    def distract(self, c: Chain) -> None:
        """One distractor: the same role for someone else, a surname twin, or the same value for another entity."""
        r, value = self.rng, c.stated[c.rel.name]
        roll = r.random()
        if roll < 0.4:
            anchor = self._anchor(c.role, avoid=c.anchor.key)
            self.chain(3 if c.link else 2, anchor, c.role, c.link, c.rel, avoid=value)
        elif roll < 0.7 and c.kind == "person":
            skip = c.link is not None and r.random() < 0.5  # the bridge itself states the relation (hop skipping)
            twin = c.hidden[0] if skip else self._entity("person", surname=c.hidden[-1].split()[-1])
            other = self._value(c.rel, value)
            m = self._write(twin, lambda: self.writer.write(twin, [(c.rel, other)]))
            if skip:
                c.own.append(m)
        elif roll < 0.7:  # a surname twin of the bridge, linked the same way to a place stating the relation
            twin, place, link = self._entity("person", surname=c.hidden[0].split()[-1]), self._entity(c.kind), c.link
            assert link is not None
            self._write(twin, lambda: self.writer.write(twin, [(link.rel, place)]))
            self._write(place, lambda: self.writer.write(place, [(c.rel, self._value(c.rel, value))]))
        else:
            other = self._entity(c.kind)
            self._write(other, lambda: self.writer.write(other, [(c.rel, value)]))
