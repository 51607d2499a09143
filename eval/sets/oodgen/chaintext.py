"""What chain memories and questions say: roles, links and extra person attributes (chains.json), role memories
in the five agent styles, and questions asked through a role.

Kept apart from chains.py so that the builder reads as chain logic only. Like relations.json, the order of
chains.json is part of every chain set: entries may only be appended.
"""

import json
import random
from dataclasses import dataclass
from pathlib import Path

from .relations import BY_KIND, Relation
from .render import ACKS, CHAT_SPEAKERS, FILLERS, SELF_LEADS, STYLE_WEIGHTS, STYLES, USER_LEADS, MemoryWriter, cap


@dataclass(frozen=True)
class Role:
    """Someone a person has ("my physio"): nouns a memory or question may use, and role-specific templates."""

    name: str
    nouns: tuple[str, ...]
    mem: tuple[str, ...]


@dataclass(frozen=True)
class Link:
    """What links a bridge person to the next entity of a 3-hop chain, and how questions name that entity.

    `phrase` forms ("{r}'s partner") may be followed by "'s"; `plain` forms ("the house {r} lives in") may not.
    """

    rel: Relation
    phrase: tuple[str, ...]
    plain: tuple[str, ...]


@dataclass(frozen=True)
class Anchor:
    """Whose role it is: key (registry), possessive in first-person text, possessive after "the user said"."""

    key: str
    poss: str
    told: str
    terse: str


def _relation(row: dict) -> Relation:
    return Relation(row["name"], row["kind"], row["value"], tuple(row["labels"]), tuple(row["mem"]),
                    tuple(row["ask"]))


TABLE = json.loads(Path(__file__).with_name("chains.json").read_text(encoding="utf-8"))
RELATIVES: tuple[str, ...] = tuple(TABLE["relatives"])
ROLE_MEM: tuple[str, ...] = tuple(TABLE["role_mem"])
ROLE_ASK: tuple[str, ...] = tuple(TABLE["role_ask"])
ROLES: tuple[Role, ...] = tuple(Role(r["name"], tuple(r["nouns"]), tuple(r["mem"])) for r in TABLE["roles"])
LINKS: tuple[Link, ...] = tuple(Link(_relation(r), tuple(r["phrase"]), tuple(r["plain"])) for r in TABLE["links"])
# The relations a chain's last memory may state, by the kind of entity it is about (person-valued ones left
# out: their values would be names outside the chain's control).
ATTRS: dict[str, tuple[Relation, ...]] = {
    kind: tuple(r for r in BY_KIND[kind] if r.value != "person")
    + (tuple(_relation(r) for r in TABLE["attributes"]) if kind == "person" else ())
    for kind in ("person", "household", "business", "club")
}
ATTR_BY_NAME: dict[str, Relation] = {r.name: r for rels in ATTRS.values() for r in rels}
USER = Anchor("user", "my", "their", "user")


def relative(word: str) -> Anchor:
    """One of the user's relatives or friends ("my sister")."""
    return Anchor(f"my {word}", f"my {word}'s", f"their {word}'s", f"my {word}")


def person(name: str) -> Anchor:
    """A person subject of the world ("Hannah Berg")."""
    return Anchor(name, f"{name}'s", f"{name}'s", name)


def ask(rng: random.Random, rel: Relation, phrase: tuple[str, ...], plain: tuple[str, ...] = ()) -> str:
    """A question for rel about the entity named by one of the phrases (plain ones never before "'s")."""
    template = rng.choice(rel.ask)
    options = phrase if "{s}'s" in template else phrase + plain
    return cap(template.replace("{s}", rng.choice(options)))


def role_memory(writer: MemoryWriter, anchor: Anchor, role: Role, bridge: str) -> str:
    """A memory saying that bridge holds role for anchor, in one of the five agent styles (as render.py)."""
    r = writer.rng
    style = r.choices(STYLES, STYLE_WEIGHTS)[0]
    noun = r.choice(role.nouns)
    template = r.choice(ROLE_MEM + role.mem)
    fillers = [cap(writer._filler(t)) for t in r.sample(FILLERS, r.choice((0, 0, 1, 1, 2)))]

    def say(poss: str) -> str:
        return template.replace("{o}", poss).replace("{r}", noun).replace("{b}", bridge)

    if style == "terse":
        key = anchor.terse
        text = r.choice((f"{key} — {noun}: {bridge}", f"[{key}] {noun}: {bridge}", f"{key}\n- {noun}: {bridge}",
                         f"re {key} -> {noun}: {bridge}"))
        return text + (f" (via {writer.pools.person()})" if fillers else "")
    if style == "chat":
        you, me = r.choice(CHAT_SPEAKERS)
        lines = []
        for i, turn in enumerate([cap(say(anchor.poss)), *fillers]):
            lines.append(f"{you}: {turn}")
            if i == len(fillers) or r.random() < 0.5:
                lines.append(f"{me}: {r.choice(ACKS)}")
        return "\n".join(lines)
    if style == "user":
        form, sentence = r.choice(USER_LEADS), say(anchor.told)
    elif style == "self":
        form, sentence = r.choice(SELF_LEADS), say(anchor.poss)
    else:
        form, sentence = "{X}", say(anchor.poss)
    parts = [form.replace("{x}", sentence).replace("{X}", cap(sentence))]
    for f in fillers:
        parts.insert(r.randint(0, len(parts)) if style == "plain" else len(parts), f)
    return " ".join(parts)
