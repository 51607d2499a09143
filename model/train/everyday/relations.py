"""Relations (what a memory can state about a subject), parsed from the tables in `relations/*.txt`, and
the rendering of their templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

from msa.model.train.everyday.styles import KINDS
from msa.model.train.everyday.words import FUNCTIONS, PATTERNS, POOLS

# Relations. "@kind name | terse label | value pool [| link=how questions name the target] [| implies=...]"
# then "- " memory sentences and "? " questions. A link's value is a person; `implies` lists that person's
# relations the link already states (a dentist's job), which they must then not state again.
TABLES = files("msa.model.train.everyday") / "relations"


@dataclass(frozen=True)
class Relation:
    name: str  # "kind.relation"
    kind: str
    label: str  # the key in terse "key: value" notes
    pool: str  # a POOLS, PATTERNS or FUNCTIONS name, "breed", or "person" (the value is another subject)
    facts: tuple[str, ...]  # memory sentence templates
    questions: tuple[str, ...]
    link: str = ""  # for person values: how a 2-hop question names the target ("{p} dentist")
    implies: tuple[str, ...] = ()  # the target's relations this link already states


def _parse(text: str) -> list[Relation]:
    """Reads the relation tables; every memory template must name its subject (evidence reads on its own)."""
    relations = []
    for block in re.split(r"\n\s*\n", text.strip()):
        head, *lines = block.strip().splitlines()
        kind_name, label, pool, *options = (part.strip() for part in head.lstrip("@").split("|"))
        kind, name = kind_name.split()
        opts = dict(option.split("=", 1) for option in options)
        facts = tuple(line[2:] for line in lines if line.startswith("- "))
        questions = tuple(line[2:] for line in lines if line.startswith("? "))
        if len(facts) + len(questions) != len(lines) or len(facts) < 4 or len(questions) < 4:
            raise ValueError(f"relation {kind_name}: needs 4+ '- ' memory and 4+ '? ' question lines")
        for t in facts:
            if "{v}" not in t or not ("{s}" in t or "{p}" in t or "the user" in t.lower()):
                raise ValueError(f"template {t!r} lacks its value or subject")
        if pool not in ("person", "breed", *POOLS, *PATTERNS, *FUNCTIONS):
            raise ValueError(f"relation {kind_name}: unknown value pool {pool!r}")
        implies = tuple(f"person.{r}" for r in opts.get("implies", "").split(",") if r)
        relations.append(Relation(f"{kind}.{name}", kind, label, pool, facts, questions, opts.get("link", ""), implies))
    return relations


TABLE_TEXT = "\n\n".join(TABLES.joinpath(f"{kind}.txt").read_text() for kind in ("user", "person", "thing"))
RELATIONS: dict[str, Relation] = {r.name: r for r in _parse(TABLE_TEXT)}
BY_KIND: dict[str, list[Relation]] = {kind: [r for r in RELATIONS.values() if r.kind == kind] for kind in KINDS}


CHOICE = re.compile(r"\[([^\[\]|]*)\|([^\[\]|]*)\]")
THE_USER = re.compile(r"\bThe user\b")


def resolve(text: str, first: bool) -> str:
    """Picks each `[first person|third person]` alternative."""
    return CHOICE.sub(lambda m: m.group(1) if first else m.group(2), text)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def render(template: str, s: str, p: str, v: str, first: bool) -> str:
    """A template filled with subject, possessive and value, in the user's voice or an agent's."""
    return cap(resolve(template.replace("{s}", s).replace("{p}", p).replace("{v}", v), first))
