"""The relations each subject kind can have, read from relations.json (a table, kept out of the code).

The order of relations.json is part of every generated set: kinds, shuffles and picks follow it, so entries
may only be appended, never reordered, or the reported sets change.
"""

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Relation:
    """One relation of a subject kind: how memories state it and how questions ask for it.

    Templates use {s} (subject) and {v} (value). A memory template starting with "~" is in the first person,
    one starting with "!" is an instruction; neither can follow "the user said that ...".
    """

    name: str
    kind: str
    value: str  # the value pool (pools.Pools.values key, or "person")
    labels: tuple[str, ...]  # for terse "label: value" memories
    mem: tuple[str, ...]
    ask: tuple[str, ...]


def _load(path: Path) -> tuple[Relation, ...]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return tuple(Relation(r["name"], r["kind"], r["value"], tuple(r["labels"]), tuple(r["mem"]), tuple(r["ask"]))
                 for r in rows)


RELATIONS: tuple[Relation, ...] = _load(Path(__file__).with_name("relations.json"))
KINDS: tuple[str, ...] = tuple(dict.fromkeys(r.kind for r in RELATIONS))
BY_KIND: dict[str, tuple[Relation, ...]] = {k: tuple(r for r in RELATIONS if r.kind == k) for k in KINDS}
BY_NAME: dict[str, Relation] = {r.name: r for r in RELATIONS}


def embeddable(template: str) -> bool:
    """Whether a template can follow "... that" (neither first person nor an instruction)."""
    return not template.startswith(("~", "!"))


def fill(template: str, s: str, v: str) -> str:
    """The template's text with its subject and value put in (the "~" / "!" marker dropped)."""
    return template.lstrip("~!").replace("{s}", s).replace("{v}", v)
