"""The everyday generator: makes subjects, gives them facts, writes memories in many styles, asks about them."""

from __future__ import annotations

import random
import re

from msa.model.train.everyday.relations import BY_KIND, RELATIONS, THE_USER, Relation, cap, render, resolve
from msa.model.train.everyday.styles import (
    CHUNK_SIZES,
    COMMIT_TYPES,
    FILLER_COUNTS,
    FILLERS,
    FIRST_PERSON_STYLES,
    KINDS,
    NOTE_PREFIXES,
)
from msa.model.train.everyday.subjects import EverydayDataset, Subject, ask, name_words, question_name
from msa.model.train.everyday.words import (
    ADJECTIVES,
    APPLIANCES,
    APPOINTMENT_TYPES,
    BRANDS,
    BREEDS,
    CITIES,
    COLOURS,
    CORPORATE_EVENTS,
    COURSE_FORMATS,
    COURSES,
    FIRST_NAMES,
    FUNCTIONS,
    NOUNS,
    OCCASIONS,
    PATTERNS,
    PET_NAMES,
    PLACES,
    POOLS,
    PURCHASES,
    SERVICE_HEADS,
    SERVICE_TAILS,
    SUBJECT_POOLS,
    SUBSCRIPTIONS,
    SURNAMES,
    TRIP_PURPOSES,
    VEHICLES,
    _word,
    date_text,
    expand,
)
from msa.model.train.synthetic import Example


class EverydayGenerator:
    """Makes subjects, gives them facts, writes the facts into memories and asks about them."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"everyday-{seed}")
        self.subjects: list[Subject] = []
        self.people: list[Subject] = []
        self.pending: list[Subject] = []  # subjects made as link targets or owners, written next
        self.taken: set[str] = set()  # display names in use (membership only, never iterated)
        self.recent: dict[str, list[str]] = {}  # pool -> recent values, reused so values repeat across subjects
        self.links: list[tuple[Subject, Relation, Subject]] = []
        self.memories: list[str] = []

    # --- subjects -------------------------------------------------------------------------------------------

    def person(self) -> Subject:
        """A person whose first name or surname often repeats someone else's (hard negatives)."""
        rng = self.rng
        while True:
            first = rng.choice(self.people).first if self.people and rng.random() < 0.35 else rng.choice(FIRST_NAMES)
            last = rng.choice(self.people).last if self.people and rng.random() < 0.3 else rng.choice(SURNAMES)
            if f"{first} {last}" not in self.taken:
                subject = self._add(Subject("person", f"{first} {last}", first, first, last, aliases=(first,)))
                self.people.append(subject)
                return subject

    def owner(self, user_share: float) -> str:
        """The possessive of a thing's owner: mostly the user, else a person."""
        if self.rng.random() < user_share:
            return "[my|the user's]"
        person = self.rng.choice(self.people) if self.people and self.rng.random() < 0.7 else self._pending_person()
        return f"{person.s}'s"

    def thing(self, kind: str) -> Subject | None:
        """A new subject of a kind other than a person; None when its names seem used up."""
        rng = self.rng
        c = rng.choice
        for _ in range(30):
            extra, aliases = "", ()
            if kind == "pet":
                extra, name, owner = c(sorted(BREEDS)), c(PET_NAMES), self.owner(0.55)
                s, short, aliases = f"{owner} {extra} {name}", name, (name, f"{owner} {name}")
            elif kind == "appliance":
                item, owner = c(APPLIANCES), self.owner(0.7)
                s, short, aliases = f"{owner} {c(BRANDS)} {item}", f"the {item}", (f"{owner} {item}",)
            elif kind == "vehicle":
                model, owner = c(VEHICLES), self.owner(0.6)
                s, aliases = f"{owner} {c(COLOURS)} {model}", (f"{owner} {model}", f"{owner} {model.split()[0]}")
                short = "the " + (model.split()[-1] if model.endswith(("van", "motorbike")) else "car")
            elif kind == "project":
                extra = c(NOUNS)
                s = f"Project {extra}" if rng.random() < 0.5 else f"Project {c(ADJECTIVES)} {extra}"
                short, extra, aliases = "the project", extra.lower(), (s.removeprefix("Project "),)
            elif kind == "service":
                extra = f"{c(SERVICE_HEADS)}-{c(SERVICE_TAILS)}"
                s, short, aliases = f"the {extra} service", "the service", (extra,)
            elif kind == "subscription":
                brand, category = c(BRANDS), c(SUBSCRIPTIONS)
                s, short, aliases = f"[my|the user's] {brand} {category}", f"the {category.split()[-1]}", (brand,)
            elif kind == "trip":
                city = c(CITIES)
                s, short = f"[my|the user's] {c(TRIP_PURPOSES)} trip to {city}", "the trip"
                aliases = (f"the {city} trip",)
            elif kind == "course":
                topic, form = c(COURSES), c(COURSE_FORMATS)
                s, short, aliases = f"the {topic} {form}", f"the {form}", (topic,)
            elif kind == "event":
                person = c(self.people) if self.people and rng.random() < 0.5 else None
                occasion = c(OCCASIONS) if person else c(CORPORATE_EVENTS)
                s = f"{person.s}'s {occasion}" if person else f"the {c(BRANDS)} {occasion}"
                short, aliases = f"the {occasion}", ((f"{person.first}'s {occasion}",) if person else ())
            elif kind == "place":
                venue, name = c(PLACES), f"{c(ADJECTIVES)} {c(NOUNS)}"
                s, short, aliases = f"the {name} {venue}", f"the {venue}", (f"the {name}", name)
            elif kind == "purchase":
                item = c(PURCHASES)
                s, short, aliases = f"[my|the user's] {item} from {_word(rng)}", f"the {item.split()[-1]}", \
                    (f"[my|the user's] {item}", f"the {item}")
            else:  # appointment
                visit = c(APPOINTMENT_TYPES)
                s, short = f"[my|the user's] {visit}", "the appointment"
                aliases = (f"[my|the user's] {re.split(' for | of ', visit)[0]}",)
            if resolve(s, first=False) not in self.taken:
                return self._add(Subject(kind, s, short, extra=extra, aliases=aliases))
        return None

    def _add(self, subject: Subject) -> Subject:
        self.taken.add(subject.display)
        self.subjects.append(subject)
        return subject

    def _pending_person(self) -> Subject:
        person = self.person()
        self.pending.append(person)
        return person

    # --- facts ----------------------------------------------------------------------------------------------

    def give_facts(self, subject: Subject) -> None:
        """Picks the relations this subject states (all but a few for the user, 1-8 for others) and values."""
        rng = self.rng
        open_relations = [r for r in BY_KIND[subject.kind] if r.name not in subject.implied]
        if subject.kind == "user":
            k = round(len(open_relations) * rng.uniform(0.75, 0.9))
        else:
            k = min(len(open_relations), rng.choice((1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8)))
        for rel in rng.sample(open_relations, k):
            subject.facts[rel.name] = self.link(subject, rel) if rel.pool == "person" else self.value(rel, subject)

    def value(self, rel: Relation, subject: Subject) -> str:
        """A value from the relation's pool; generated ones are sometimes reused so subjects share values."""
        rng = self.rng
        if rel.pool == "breed":
            return rng.choice(BREEDS[subject.extra])
        if rel.pool in POOLS:
            return rng.choice(POOLS[rel.pool])
        recent = self.recent.setdefault(rel.pool, [])
        if recent and rel.pool not in SUBJECT_POOLS and rng.random() < 0.1:
            return rng.choice(recent)
        fn = FUNCTIONS.get(rel.pool)
        v = fn(rng) if fn else expand(rng.choice(PATTERNS[rel.pool]), rng, subject)
        recent.append(v)
        del recent[:-40]
        return v

    def link(self, subject: Subject, rel: Relation) -> str:
        """A person as the value: someone known whom the link does not contradict, or someone new."""
        rng = self.rng
        target = rng.choice(self.people) if self.people and rng.random() < 0.4 else None
        if target is None or target is subject or any(r in target.facts or r in target.implied for r in rel.implies):
            target = self._pending_person()
        target.implied.extend(rel.implies)
        self.links.append((subject, rel, target))
        return target.display

    # --- memories -------------------------------------------------------------------------------------------

    def write(self, subject: Subject, n_memories: int) -> None:
        """Spreads the subject's facts over memories of 1-5 facts; facts beyond the budget are dropped."""
        relations = list(subject.facts)
        self.rng.shuffle(relations)
        i = 0
        while i < len(relations) and len(self.memories) < n_memories:
            chunk = relations[i:i + self.rng.choice(CHUNK_SIZES)]
            for rel in chunk:
                subject.memory_of[rel] = len(self.memories)
            self.memories.append(self.memory(subject, chunk))
            i += len(chunk)
        for rel in relations[i:]:
            del subject.facts[rel]

    def memory(self, subject: Subject, relations: list[str]) -> str:
        rng = self.rng
        style = rng.choice(KINDS[subject.kind][1])
        first = style in FIRST_PERSON_STYLES or (style == "plain" and rng.random() < 0.6)
        if style == "terse":
            text = self.terse(subject, relations)
        else:
            facts = [self.sentence(subject, rel, i == 0 or rng.random() < 0.5, first)
                     for i, rel in enumerate(relations)]
            n_fill = min(rng.choice(FILLER_COUNTS), 8 - len(facts))
            text = getattr(self, f"style_{style}")(subject, facts, n_fill, first)
        if style in ("note", "terse") and rng.random() < 0.5:
            text = THE_USER.sub("User", text)
        return text

    def sentence(self, subject: Subject, rel_name: str, full: bool, first: bool) -> str:
        """One fact as a sentence; records its evidence (explicit subject, agent's voice)."""
        template = self.rng.choice(RELATIONS[rel_name].facts)
        v = subject.facts[rel_name]
        subject.evidence[rel_name] = render(template, subject.s, subject.p, v, first=False)
        s, p = (subject.s, subject.p) if full else (subject.short, subject.short_p)
        return render(template, s, p, v, first)

    def terse(self, subject: Subject, relations: list[str]) -> str:
        """`Subject — key: value; key: value` (an agent's shorthand)."""
        pairs = []
        for rel in relations:
            label, v = RELATIONS[rel].label, subject.facts[rel]
            subject.evidence[rel] = f"{cap(subject.display)} — {label}: {v}."
            pairs.append(f"{label}: {v}")
        tail = f" (updated {date_text(self.rng, (2024, 2025))})" if self.rng.random() < 0.3 else ""
        return f"{cap(subject.display)} — {'; '.join(pairs)}.{tail}"

    def fillers(self, pool: str, n: int) -> list[str]:
        return self.rng.sample(FILLERS[pool], n)

    def mixed(self, facts: list[str], fillers: list[str]) -> list[str]:
        """Facts in order with fillers slotted in anywhere (often before the answer)."""
        out = list(facts)
        for filler in fillers:
            out.insert(self.rng.randint(0, len(out)), filler)
        return out

    def style_plain(self, subject: Subject, facts: list[str], n_fill: int, first: bool) -> str:
        pool = "first" if first and self.rng.random() < 0.5 else "neutral"
        return " ".join(self.mixed(facts, self.fillers(pool, n_fill)))

    def style_note(self, subject: Subject, facts: list[str], n_fill: int, first: bool) -> str:
        return self.rng.choice(NOTE_PREFIXES) + " ".join(self.mixed(facts, self.fillers("neutral", n_fill)))

    def style_diary(self, subject: Subject, facts: list[str], n_fill: int, first: bool) -> str:
        header = self.rng.choice(("Dear diary, {d}.", "{d}:", "Diary — {d}.", "{d}, evening."))
        body = self.mixed(facts, self.fillers("first", n_fill))
        return " ".join([header.format(d=cap(date_text(self.rng, (2023, 2025)))), *body])

    def style_chat(self, subject: Subject, facts: list[str], n_fill: int, first: bool) -> str:
        rng = self.rng
        lines = [f"Assistant: {rng.choice(FILLERS['opener'])}"] if rng.random() < 0.4 else []
        split = rng.randint(1, len(facts))
        turns = [facts[:split], facts[split:]] if n_fill and len(facts) > 1 else [facts]
        chatter = self.fillers("first", n_fill)
        for turn in turns:
            if turn:
                lines.append("User: " + " ".join(self.mixed(turn, chatter[:1])))
                chatter = chatter[1:]
                lines.append(f"Assistant: {rng.choice(FILLERS['ack'])}")
        return "\n".join(lines)

    def style_minutes(self, subject: Subject, facts: list[str], n_fill: int, first: bool) -> str:
        header = self.rng.choice(("Minutes, {d}:", "Meeting notes ({d})", "Sync notes — {d}", "Standup {d}:"))
        lines = self.mixed(facts, self.fillers("minutes", n_fill))
        return "\n".join([header.format(d=date_text(self.rng, (2024, 2025))), *(f"- {line}" for line in lines)])

    def style_commit(self, subject: Subject, facts: list[str], n_fill: int, first: bool) -> str:
        rng = self.rng
        title = facts[0].rstrip(".")
        if title.split(maxsplit=1)[0] in ("The", "My", "A"):
            title = title[:1].lower() + title[1:]
        head = f"{rng.getrandbits(28):07x} {rng.choice(COMMIT_TYPES)}({subject.extra}): {title}"
        body = self.mixed(facts[1:], self.fillers("commit", n_fill))
        return head + ("\n\n" + " ".join(body) if body else "")

    # --- questions ------------------------------------------------------------------------------------------

    def dataset(self, n_memories: int, n_questions: int, two_hop: float = 0.05) -> EverydayDataset:
        rng = self.rng
        user = self._add(Subject("user", "[I|the user]", "[I|the user]"))
        self.pending.append(user)
        kinds = [k for k in KINDS if KINDS[k][0]]
        weights = [KINDS[k][0] for k in kinds]
        guard = 0
        while len(self.memories) < n_memories and guard < 50 * n_memories + 100:
            guard += 1
            if self.pending:
                subject = self.pending.pop(0)
            else:
                kind = rng.choices(kinds, weights)[0]
                subject = (kind != "person" and self.thing(kind)) or self.person()
            self.give_facts(subject)
            self.write(subject, n_memories)
        self.shuffle_memories()
        self.settle_aliases()
        return self.ask_all(n_questions, two_hop)

    def shuffle_memories(self) -> None:
        """Interleaves memories of different subjects, as a store would hold them."""
        order = list(range(len(self.memories)))
        self.rng.shuffle(order)  # old index -> new index
        memories = [""] * len(order)
        for old, new in enumerate(order):
            memories[new] = self.memories[old]
        self.memories = memories
        for subject in self.subjects:
            subject.memory_of = {rel: order[i] for rel, i in subject.memory_of.items()}

    def settle_aliases(self) -> None:
        """Keeps the aliases that fit no other subject's full name (all their words appear in it)."""
        words = [name_words(resolve(s.s, True)) for s in self.subjects]
        index: dict[str, list[int]] = {}
        for i, ws in enumerate(words):
            for w in ws:
                index.setdefault(w, []).append(i)
        for i, subject in enumerate(self.subjects):
            fits = [name_words(resolve(alias, True)) for alias in subject.aliases]
            subject.aliases = tuple(alias for alias, aw in zip(subject.aliases, fits, strict=True) if aw and not any(
                j != i and aw <= words[j] for j in min((index.get(w, []) for w in aw), key=len)))

    def ask_all(self, n_questions: int, two_hop: float) -> EverydayDataset:
        """Single-hop questions about stated facts and a share of 2-hop ones."""
        rng = self.rng
        stated: dict[str, list[Subject]] = {}
        for subject in self.subjects:
            for rel in subject.memory_of:
                stated.setdefault(rel, []).append(subject)
        relations = [r for r in RELATIONS if r in stated]
        facts = [(subject, rel) for subject in self.subjects for rel in subject.memory_of]
        chains = [(a, rel, b) for a, rel, b in self.links if rel.link and rel.name in a.memory_of and b.memory_of]
        examples: list[Example] = []
        templates: list[str] = []
        while relations and len(examples) < n_questions:
            if chains and rng.random() < two_hop:
                example, template = self.chain(rng.choice(chains))
            else:
                if rng.random() < 0.3:  # a third by relation, so rare relations are asked too
                    rel = rng.choice(relations)
                    subject = rng.choice(stated[rel])
                else:
                    subject, rel = rng.choice(facts)
                question, template = ask(rng, RELATIONS[rel], *question_name(rng, subject))
                example = Example(question, subject.facts[rel], (subject.memory_of[rel],), relation=rel,
                                  subject=subject.display, evidence=subject.evidence[rel])
            examples.append(example)
            templates.append(template)
        return EverydayDataset(self.memories, examples, self.subjects, templates)

    def chain(self, link: tuple[Subject, Relation, Subject]) -> tuple[Example, str]:
        """A 2-hop question: the link names a person ("my dentist"), the answer is in that person's memory."""
        a, rel, b = link
        phrase = resolve(rel.link.replace("{s}", a.s).replace("{p}", a.p), first=True)
        second = self.rng.choice(list(b.memory_of))
        question, template = ask(self.rng, RELATIONS[second], phrase, f"{phrase}'s")
        gold = (a.memory_of[rel.name], b.memory_of[second])
        return Example(question, b.facts[second], gold, hops=2, relation=second, subject=b.display,
                       evidence=b.evidence[second]), template


def make_everyday_dataset(n_memories: int, n_questions: int, seed: int = 0) -> EverydayDataset:
    """Memories about the user's world and questions answerable from them (~5% 2-hop), deterministic per seed."""
    return EverydayGenerator(seed).dataset(n_memories, n_questions)
