"""Generated memories and questions about fictional people, for router training and evaluation.

Every person has a freshly generated name, so no model knows the answer beforehand: it has to find the
memory. A memory is a profile of 1-20 sentences about one person; a question asks one fact and is
answerable from exactly one memory (two for a 2-hop question). Distractor profiles share a first name or
a value with a gold one. The `heldout` split uses relations (and so templates) that `train` never sees,
and names drawn until they are disjoint from the training names.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

ONSETS = "b br c ch d dr f g gr h j k kl l m n p pr qu r s sh st t tr v w z".split()
VOWELS = "a e i o u ai ea io ou y".split()
CODAS = ["", "", "n", "r", "l", "s", "th", "nd", "rk", "m", "x"]


@dataclass(frozen=True)
class Relation:
    name: str
    documents: tuple[str, ...]  # sentence templates with {s} (subject) and {v} (value)
    questions: tuple[str, ...]  # question templates with {s}
    values: tuple[str, ...]  # value pool; "@name" = a generated name, "@num" = a number


def _r(name: str, documents: str, questions: str, values: str) -> Relation:
    return Relation(name, tuple(documents.split(" | ")), tuple(questions.split(" | ")),
                    tuple(values.split(", ")))


# Relations whose value is another generated person (2-hop questions chain through these).
LINKS = ("sister", "mentor", "neighbour", "partner")
RELATIONS = (
    _r("pet", "{s} has a pet called {v}. | The pet of {s} is named {v}. | {s} owns an animal named {v}.",
       "What is the name of {s}'s pet? | What is {s}'s pet called? | Which animal name belongs to {s}'s pet?",
       "@name"),
    _r("birthplace", "{s} was born in {v}. | {s} comes from the town of {v}. | The hometown of {s} is {v}.",
       "Where was {s} born? | Which town does {s} come from? | What is the hometown of {s}?", "@name"),
    _r("job", "{s} works as a {v}. | By profession, {s} is a {v}. | {s} earns a living as a {v}.",
       "What is {s}'s job? | What does {s} do for a living? | What is the profession of {s}?",
       "baker, pilot, nurse, carpenter, librarian, chemist, gardener, tailor, plumber, jeweller, surveyor"),
    _r("instrument", "{s} plays the {v}. | The instrument {s} plays is the {v}. | {s} practises the {v} daily.",
       "Which instrument does {s} play? | What instrument is played by {s}? | What does {s} practise daily?",
       "cello, flute, harp, trumpet, violin, drums, oboe, banjo, accordion, clarinet"),
    _r("color", "The favourite colour of {s} is {v}. | {s} likes the colour {v} best. | {s} prefers {v}.",
       "What is {s}'s favourite colour? | Which colour does {s} like best? | What colour does {s} prefer?",
       "crimson, teal, amber, violet, olive, indigo, scarlet, ivory, maroon, turquoise"),
    _r("age", "{s} is {v} years old. | The age of {s} is {v}. | {s} turned {v} this year.",
       "How old is {s}? | What is the age of {s}? | What age did {s} turn this year?", "@num"),
    _r("food", "{s} loves eating {v}. | The favourite food of {s} is {v}. | {s} always orders {v}.",
       "What does {s} love to eat? | What is {s}'s favourite food? | What does {s} always order?",
       "noodles, dumplings, pancakes, lentil soup, mangoes, olives, tacos, figs, risotto, herring"),
    _r("vehicle", "{s} drives a {v}. | The car of {s} is a {v}. | {s} gets around in a {v}.",
       "What does {s} drive? | What kind of car does {s} have? | What does {s} get around in?",
       "red van, blue truck, green jeep, white tractor, black coupe, yellow bus, silver sedan"),
    _r("employer", "{s} is employed by the {v} Company. | {s} has a job at the {v} Company.",
       "Which company employs {s}? | Where does {s} have a job?", "@name"),
    _r("sister", "The sister of {s} is called {v}. | {s} has a sister named {v}.",
       "What is the name of {s}'s sister? | Who is {s}'s sister?", "@person"),
    _r("mentor", "{s} was trained by {v}. | The mentor of {s} is {v}.",
       "Who trained {s}? | Who is the mentor of {s}?", "@person"),
    _r("language", "{s} speaks fluent {v}. | The native language of {s} is {v}.",
       "Which language does {s} speak? | What is the native language of {s}?",
       "Portuguese, Finnish, Swahili, Tagalog, Icelandic, Welsh, Basque, Hungarian, Malay"),
    _r("sport", "{s} plays {v} on weekends. | The sport {s} loves is {v}.",
       "Which sport does {s} play? | What sport does {s} love?",
       "tennis, rugby, curling, fencing, badminton, rowing, handball, squash"),
    _r("street", "{s} lives on {v} Street. | The home of {s} is on {v} Street.",
       "On which street does {s} live? | Where is the home of {s}?", "@name"),
    _r("hobby", "In spare time, {s} enjoys {v}. | The hobby of {s} is {v}.",
       "What is {s}'s hobby? | What does {s} enjoy in spare time?",
       "knitting, birdwatching, pottery, chess, origami, hiking, baking bread, calligraphy"),
    _r("allergy", "{s} is allergic to {v}. | {s} must avoid {v} because of an allergy.",
       "What is {s} allergic to? | What must {s} avoid?",
       "peanuts, shellfish, pollen, cats, latex, wheat, strawberries, bee stings"),
    _r("book", "The favourite book of {s} is {v}. | {s} keeps rereading the novel {v}.",
       "What is {s}'s favourite book? | Which novel does {s} keep rereading?", "@title"),
    _r("neighbour", "The neighbour of {s} is {v}. | {s} lives next door to {v}.",
       "Who is the neighbour of {s}? | Who lives next door to {s}?", "@person"),
    _r("drink", "{s} drinks {v} every morning. | The usual drink of {s} is {v}.",
       "What does {s} drink every morning? | What is the usual drink of {s}?",
       "green tea, espresso, cocoa, lemonade, chai, buttermilk, ginger beer"),
    _r("school", "{s} studied at {v} Academy. | {s} graduated from {v} Academy.",
       "Where did {s} study? | Which academy did {s} graduate from?", "@name"),
    _r("height", "{s} is {v} centimetres tall. | The height of {s} is {v} centimetres.",
       "How tall is {s}? | What is the height of {s}?", "@num"),
    _r("partner", "{s} is married to {v}. | The partner of {s} is {v}.",
       "Who is {s} married to? | Who is the partner of {s}?", "@person"),
    _r("flower", "{s} grows {v} in the garden. | The favourite flower of {s} is the {v}.",
       "What does {s} grow in the garden? | What is {s}'s favourite flower?",
       "tulips, orchids, dahlias, peonies, irises, marigolds, camellias"),
    _r("fear", "{s} is afraid of {v}. | The greatest fear of {s} is {v}.",
       "What is {s} afraid of? | What is the greatest fear of {s}?",
       "spiders, thunder, heights, deep water, the dark, crowds, clowns"),
    _r("boat", "{s} sails a boat named {v}. | The boat of {s} is called {v}.",
       "What is the name of {s}'s boat? | What boat does {s} sail?", "@name"),
    _r("birthday", "{s} was born in the year {v}. | The birth year of {s} is {v}.",
       "In which year was {s} born? | What is the birth year of {s}?", "@year"),
    _r("club", "{s} belongs to the {v} Club. | {s} is a member of the {v} Club.",
       "Which club does {s} belong to? | What club is {s} a member of?", "@name"),
    _r("phone", "The phone number of {s} ends in {v}. | {s} can be reached at a number ending in {v}.",
       "What does the phone number of {s} end in? | How does {s}'s number end?", "@num4"),
    _r("dessert", "{s} bakes {v} for every party. | The signature dessert of {s} is {v}.",
       "What does {s} bake for parties? | What is the signature dessert of {s}?",
       "apple strudel, lemon tart, carrot cake, baklava, tiramisu, pavlova"),
    _r("garden", "{s} has {v} trees in the orchard. | The orchard of {s} holds {v} trees.",
       "How many trees are in {s}'s orchard? | How many trees does {s} have?", "@num"),
    _r("shoe", "{s} wears shoes of size {v}. | The shoe size of {s} is {v}.",
       "What shoe size does {s} wear? | What is the shoe size of {s}?", "@num"),
    _r("city", "{s} moved to {v} last year. | Since last year {s} has lived in {v}.",
       "Where did {s} move last year? | Where has {s} lived since last year?", "@name"),
    _r("award", "{s} won the {v} Prize. | {s} received the {v} Prize.",
       "Which prize did {s} win? | What prize did {s} receive?", "@name"),
    _r("bird", "{s} feeds a {v} every day. | The bird that visits {s} is a {v}.",
       "Which bird does {s} feed? | What bird visits {s}?", "robin, magpie, heron, wren, kestrel, finch"),
    _r("painting", "{s} painted a picture called {v}. | The best painting of {s} is {v}.",
       "Which picture did {s} paint? | What is the best painting of {s}?", "@title"),
    _r("locker", "The locker of {s} is number {v}. | {s} uses locker {v}.",
       "Which locker does {s} use? | What is the locker number of {s}?", "@num"),
)
HELDOUT_RELATIONS = ("hobby", "allergy", "book", "drink", "school", "flower", "fear", "boat", "award", "locker",
                     "neighbour")
TITLE_WORDS = "Silent Harbor Winter Garden Paper Moon Crimson Road Hollow Bell Glass River Iron Lantern".split()


def make_name(rng: random.Random, words: int = 2) -> str:
    def word() -> str:
        w = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 3)))
        return (w + rng.choice(CODAS)).capitalize()
    return " ".join(word() for _ in range(words))


@dataclass
class Person:
    name: str
    facts: dict[str, str] = field(default_factory=dict)  # relation -> value


@dataclass(frozen=True)
class Example:
    """A question, its answer and the numbers of the memories that answer it (two for 2-hop)."""

    question: str
    answer: str
    gold: tuple[int, ...]
    hops: int = 1
    relation: str = ""  # single-hop: the relation asked about, and its subject
    subject: str = ""
    evidence: str = ""  # single-hop: the memory's sentence that answers, with the subject's full name


@dataclass
class Dataset:
    memories: list[str]
    examples: list[Example]


class Generator:
    def __init__(self, split: str, seed: int, avoid_names: set[str] | None = None) -> None:
        self.evidence: dict[tuple[str, str], str] = {}  # (person, relation) -> sentence, full name
        if split not in ("train", "heldout"):
            raise ValueError(f"split {split!r} is not 'train' or 'heldout'")
        held = split == "heldout"
        self.relations = [r for r in RELATIONS if (r.name in HELDOUT_RELATIONS) == held]
        self.rng = random.Random(f"{split}-{seed}")
        self.avoid = avoid_names or set()
        self.used: set[str] = set()

    def name(self, first: str | None = None) -> str:
        while True:
            n = make_name(self.rng)
            if first:
                n = f"{first} {n.split()[1]}"
            if n not in self.used and n not in self.avoid:
                self.used.add(n)
                return n

    def value(self, rel: Relation, people: list[Person]) -> str:
        v = self.rng.choice(rel.values)
        if v == "@name":
            return make_name(self.rng, 1)
        if v == "@person":
            return self.rng.choice(people).name if people else self.name()
        if v == "@num":
            return str(self.rng.randint(3, 97))
        if v == "@num4":
            return str(self.rng.randint(1000, 9999))
        if v == "@year":
            return str(self.rng.randint(1901, 2009))
        if v == "@title":
            return "The " + " ".join(self.rng.sample(TITLE_WORDS, 2))
        return v

    def profile(self, person: Person) -> str:
        """1-20 sentences: the person's facts; after the first, the subject may be a first name or "This person"."""
        sentences = []
        for i, (rel_name, value) in enumerate(person.facts.items()):
            rel = next(r for r in RELATIONS if r.name == rel_name)
            short = (person.name.split()[0], "This person")
            subject = person.name if i == 0 or self.rng.random() < 0.5 else self.rng.choice(short)
            template = self.rng.choice(rel.documents)
            sentences.append(template.format(s=subject, v=value))
            self.evidence[person.name, rel_name] = template.format(s=person.name, v=value)
        return " ".join(sentences)

    def people(self, n: int, max_facts: int) -> list[Person]:
        people: list[Person] = []
        for _ in range(n):
            # A third of the people share a first name with someone already made (distractors by name).
            first = self.rng.choice(people).name.split()[0] if people and self.rng.random() < 0.33 else None
            p = Person(self.name(first))
            k = min(len(self.relations), max(1, int(self.rng.triangular(1, max_facts, 1))))
            for rel in self.rng.sample(self.relations, k):
                if rel.name in LINKS and not people:
                    continue
                p.facts[rel.name] = self.value(rel, people)
            if not p.facts:
                rel = next(r for r in self.relations if r.name not in LINKS)
                p.facts[rel.name] = self.value(rel, people)
            people.append(p)
        return people

    def dataset(self, n_memories: int, n_questions: int, max_facts: int = 20, two_hop: float = 0.1) -> Dataset:
        """Memories (one profile per person) and questions about them; 2-hop questions when possible."""
        people = self.people(n_memories, max_facts)
        index = {p.name: i for i, p in enumerate(people)}
        examples: list[Example] = []
        while len(examples) < n_questions:
            i = self.rng.randrange(len(people))
            p = people[i]
            links = [r for r in p.facts if r in LINKS and p.facts[r] in index]
            if links and self.rng.random() < two_hop:
                ex = self._two_hop(p, i, self.rng.choice(links), people, index)
                if ex:
                    examples.append(ex)
                    continue
            rel_name = self.rng.choice(list(p.facts))
            rel = next(r for r in RELATIONS if r.name == rel_name)
            examples.append(Example(self.rng.choice(rel.questions).format(s=p.name), p.facts[rel_name], (i,),
                                    relation=rel_name, subject=p.name))
        memories = [self.profile(p) for p in people]
        examples = [replace(e, evidence=self.evidence[e.subject, e.relation]) if e.hops == 1 else e for e in examples]
        return Dataset(memories, examples)

    def _two_hop(self, p: Person, i: int, link: str, people: list[Person], index: dict[str, int]
                 ) -> Example | None:
        j = index[p.facts[link]]
        other = [r for r in people[j].facts if r not in LINKS]
        if not other or j == i:
            return None
        chosen = self.rng.choice(other)
        rel = next(r for r in RELATIONS if r.name == chosen)
        inner = f"the {link} of {p.name}"
        question = self.rng.choice(rel.questions).format(s=inner)
        return Example(question[0].upper() + question[1:], people[j].facts[rel.name], (i, j), hops=2)


def make_dataset(split: str, n_memories: int, n_questions: int, seed: int = 0, max_facts: int = 20,
                 avoid_names: set[str] | None = None) -> tuple[Dataset, set[str]]:
    """A dataset and the names it used (pass the training names as `avoid_names` for held-out data)."""
    gen = Generator(split, seed, avoid_names)
    return gen.dataset(n_memories, n_questions, max_facts), gen.used
