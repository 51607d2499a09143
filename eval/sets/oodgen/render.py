"""Memory text: one subject's facts written in one of five agent styles, with unrelated filler sentences.

Styles: plain prose, reported speech ("The user told me ..."), notes to self, terse "label: value" records
and chat transcripts. Every draw comes from the set's random stream, so the order of the draws is part of
the reported sets.
"""

import random

from .pools import Pools
from .relations import Relation, embeddable, fill

FILLERS: tuple[str, ...] = (
    "heard this from {p}.",
    "{p} mentioned it over lunch.",
    "worth double-checking with {p} at some point.",
    "this came up while I was at {b}.",
    "{p} might know more about it.",
    "traffic on {st} was awful again today.",
    "still need to pick up a parcel from {b}.",
    "{p} and {p2} were there too.",
    "no rush on any of this.",
    "will confirm with {p} later this week.",
    "got this from an email {p} forwarded.",
    "the weather was miserable all day.",
    "unrelated, but {b} is having a sale.",
    "{p} says hi.",
    "I keep meaning to visit {c} someday.",
    "{p} asked me to keep track of this.",
    "saw {p} on {st} this morning.",
    "must call {b} about something else entirely.",
    "{p} is back from {c} next week.",
    "writing it here so it doesn't get lost.",
    "remind me to thank {p}.",
    "it came up in the group chat with {p}.",
    "parking near {b} was impossible.",
)
USER_LEADS: tuple[str, ...] = (
    "The user mentioned that {x}", "According to the user, {x}", "The user told me {x}", "User note: {X}",
    "The user says {x}",
)
USER_MORE: tuple[str, ...] = ("They also said {x}", "Also: {X}", "{X}", "{X}", "Plus, {x}")
SELF_LEADS: tuple[str, ...] = (
    "Note to self: {X}", "Writing this down before I forget: {X}", "I found out today that {x}", "Reminder: {X}",
    "{X}", "{X}",
)
ACKS: tuple[str, ...] = (
    "Got it.", "Noted, I'll remember that.", "Saved.", "Okay, stored.", "Thanks, I've made a note of it.",
    "Understood.",
)
CHAT_SPEAKERS: tuple[tuple[str, str], ...] = (("user", "assistant"), ("User", "Agent"), ("me", "bot"))
STYLES: tuple[str, ...] = ("plain", "user", "self", "terse", "chat")
STYLE_WEIGHTS: tuple[float, ...] = (0.28, 0.2, 0.2, 0.16, 0.16)


def cap(text: str) -> str:
    """Upper-cases the first character."""
    return text[:1].upper() + text[1:]


def _lead(form: str, sentence: str) -> str:
    """The sentence put into a lead-in form: {x} as written, {X} capitalised."""
    return form.replace("{x}", sentence).replace("{X}", cap(sentence))


class MemoryWriter:
    """Writes memories for one set from its random stream and its pools."""

    def __init__(self, rng: random.Random, pools: Pools) -> None:
        self.rng = rng
        self.pools = pools

    def _filler(self, text: str) -> str:
        """A filler sentence with its placeholders filled: people, a business, a street, a city."""
        r, p = self.rng, self.pools
        return (text.replace("{p2}", p.person()).replace("{p}", p.person()).replace("{b}", r.choice(p.businesses))
                .replace("{st}", r.choice(p.streets)).replace("{c}", r.choice(p.cities)))

    def _sentence(self, rel: Relation, key: str, value: str, embed: bool, prefer_self: bool = False) -> str:
        """One sentence stating a fact, raw (first letter as written); embed: usable after "that"."""
        options = [t for t in rel.mem if embeddable(t)] if embed else list(rel.mem)
        if prefer_self and not embed:
            options = [t for t in rel.mem if t.startswith("~")] or options
        return fill(self.rng.choice(options), key, value)

    def write(self, key: str, facts: list[tuple[Relation, str]]) -> str:
        """One memory stating each (relation, value) of facts about the subject key, in a random style."""
        r = self.rng
        style = r.choices(STYLES, STYLE_WEIGHTS)[0]
        n_fill = r.choice((0, 0, 1, 1, 2)) if len(facts) < 4 else r.choice((0, 1))
        fillers = [self._filler(t) for t in r.sample(FILLERS, n_fill)]
        if style == "terse":
            items = [(r.choice(rel.labels), v) for rel, v in facts]
            form = r.randrange(4)
            if form == 0:
                text = f"{key} — " + "; ".join(f"{lab}: {v}" for lab, v in items)
            elif form == 1:
                text = f"[{key}] " + " | ".join(f"{lab}: {v}" for lab, v in items)
            elif form == 2:
                text = key + "".join(f"\n- {lab}: {v}" for lab, v in items)
            else:
                text = f"re {key} -> " + ", ".join(f"{lab}: {v}" for lab, v in items)
            if fillers:
                text += f" (via {self.pools.person()})"
            return text
        if style == "chat":
            you, me = r.choice(CHAT_SPEAKERS)
            stamp = r.random() < 0.4
            hour, minute = r.randint(7, 22), r.randint(0, 59)
            turns = [cap(self._sentence(rel, key, v, False)) for rel, v in facts] + [cap(f) for f in fillers]
            lines = []
            for i, turn in enumerate(turns):
                lines.append(f"{you}: {turn}")
                if i == len(turns) - 1 or r.random() < 0.5:
                    lines.append(f"{me}: {r.choice(ACKS)}")
            if stamp:
                lines = [f"[{hour:02d}:{(minute + i) % 60:02d}] {line}" for i, line in enumerate(lines)]
            return "\n".join(lines)
        parts: list[str] = []
        for i, (rel, v) in enumerate(facts):
            if style == "user":
                form = r.choice(USER_LEADS if i == 0 else USER_MORE)
                parts.append(_lead(form, self._sentence(rel, key, v, "{x}" in form or i > 0)))
            elif style == "self":
                form = r.choice(SELF_LEADS) if i == 0 else "{X}"
                parts.append(_lead(form, self._sentence(rel, key, v, "{x}" in form, prefer_self=True)))
            else:
                parts.append(cap(self._sentence(rel, key, v, False)))
        for f in fillers:
            parts.insert(r.randint(0, len(parts)) if style == "plain" else len(parts), cap(f))
        return " ".join(parts)
