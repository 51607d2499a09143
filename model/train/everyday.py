"""Everyday agent memories and questions, for router and reader training that generalizes.

`synthetic.py` writes profiles of invented people with syllable names and ~30 relations, one template style;
routers trained on it fail on the notes a real agent keeps. This module writes those notes instead: facts
about the user (first person), their contacts, pets, home, health, work, software, money, travel, hobbies,
shopping, vehicles, courses, events and places, in many styles (first person, agent notes, terse key/value
lines, chat excerpts, diary lines, meeting minutes, commit messages), with filler sentences that bury the
answer. Questions paraphrase the fact (they ask the need behind it), so a router cannot match on words alone.

Hard negatives come by construction: names share first names and surnames, a subject's facts are spread over
several memories, values repeat across subjects, and the user has many memories that differ only by relation.
Everything is seeded and deterministic (no set iteration, string seeds).

Template markup: `{s}` names the subject, `{p}` is its possessive, `{v}` the value, and `[a|b]` picks `a` in
the user's own voice (first person) and `b` in an agent's note (third person).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from msa.model.train.synthetic import Dataset, Example

# ---------------------------------------------------------------------------------------------------------------
# Names and words
# ---------------------------------------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    """A table written as whitespace-separated words ("_" stands for a space inside one)."""
    return [word.replace("_", " ") for word in text.split()]


def _items(text: str, sep: str = "|") -> list[str]:
    """A table written as `a|b|c` over several lines -> ["a", "b", "c"]."""
    return [item.strip() for item in text.replace("\n", "").split(sep)]


FIRST_NAMES = _words("""
Oliver Amelia George Isla Harry Grace Thomas Eleanor William Charlotte James Lucy Daniel Hannah Samuel Rebecca
Camille Louis Léa Étienne Mathilde Hugo Margaux Antoine Inès Julien Lukas Annika Jonas Greta Felix Lena Frieda
Sven Ingrid Lars Astrid Mikael Sigrid Johan Freya Daan Sanne Pieter Femke Giulia Marco Chiara Luca Francesca
Matteo Alessia Lorenzo Lucía Javier Carmen Diego Elena Mateo Valentina Alejandro João Beatriz Tiago Mariana
Rafael Katarzyna Tomasz Agnieszka Piotr Magdalena Jakub Zofia Dmitri Anastasia Ivan Olga Nikolai Milena Bojan
Jelena Petra Ondřej Tereza Eleni Nikos Dimitra Yannis Elif Emre Zeynep Mehmet Ayşe Burak Omar Layla Yusuf Amira
Khalid Fatima Hassan Noor Karim Samira Tariq Yasmin Dariush Shirin Reza Parisa Kian Leila Priya Arjun Ananya
Rahul Kavya Rohan Meera Vikram Aditi Sanjay Divya Nikhil Sunita Imran Ayesha Farhan Nadia Rajesh Lakshmi Tanvir
Sadia Kiran Wei Mei Jun Lin Hao Xiu Yuki Haruto Sakura Kenji Aiko Takumi Hana Ren Min-jun Seo-yeon Ji-ho Soo-ah
Hyun-woo Yuna Linh Minh Thao Anh Bao Siti Budi Putri Rizal Dewi Maricel Paolo Somchai Malee Arief Chidi Ngozi
Emeka Adaeze Kwame Ama Kofi Akosua Tendai Nomvula Thabo Zanele Amara Jabari Wanjiru Abebe Selam Tsion Dawit Fatou
Moussa Aminata Ibrahima Camila Santiago Valeria Sebastián Ximena Emiliano Renata Joaquín Daniela Thiago Aroha
Tane Keala Nalani Mateus Ilse Aurelio Sione Mele Talia Noa Eitan Yael Avi Rivka Gideon Malia Leilani Alex Sam
Jordan Robin Casey Morgan Riley Quinn Avery Rowan Sasha Jamie Charlie Eden Bernadette Cormac Siobhan Declan
Aisling Rhys Carys Ewan Morag Hamish
""")

SURNAMES = _words("""
Thompson Walker Hughes Edwards Fletcher Bennett Hartley Whitaker Sullivan O'Brien Murphy Gallagher Byrne MacLeod
Campbell Fraser Morrison Davies Llewellyn Price Dubois Lefèvre Moreau Laurent Girard Fontaine Rousseau Mercier
Schmidt Müller Becker Hoffmann Wagner Schäfer Krüger Vogel de_Vries Jansen Bakker Visser van_Dijk Andersson
Johansson Lindqvist Nilsson Berg Halvorsen Eriksen Virtanen Korhonen Mäkinen Rossi Bianchi Romano Esposito Ricci
Marino Conti Greco Ferrari García Martínez López Fernández Moreno Navarro Ruiz Ortega Castillo Vargas Mendoza
Silva Santos Oliveira Pereira Costa Almeida Carvalho Ferreira Nowak Kowalski Wiśniewski Zieliński Lewandowski
Novák Dvořák Horváth Nagy Kovács Popescu Ionescu Petrov Volkov Sokolov Kuznetsov Shevchenko Kovalenko
Papadopoulos Georgiou Nikolaidis Arslan Kaya Demir Çelik Şahin Öztürk Haddad Khoury Mansour Nasser Farouk
Abdullah Rahman Hosseini Karimi Rahimi Tehrani Sharma Patel Gupta Iyer Reddy Natarajan Menon Chatterjee Banerjee
Kapoor Malhotra Desai Joshi Pillai Nair Siddiqui Qureshi Chowdhury Hossain Khan Ahmed Perera Fernando
Jayawardena Wang Zhang Liu Chen Yang Huang Zhao Wu Zhou Tanaka Suzuki Takahashi Watanabe Ito Yamamoto Nakamura
Kobayashi Sato Kim Park Lee Choi Jung Kang Yoon Nguyen Tran Pham Hoang Vu Santoso Wijaya Hidayat Reyes Cruz
Bautista Chaiyaporn Wongsakul Okafor Adeyemi Okonkwo Nwosu Mensah Owusu Asante Boateng Mwangi Kamau Njoroge Moyo
Ndlovu Dlamini Nkosi Mokoena Tesfaye Bekele Haile Diallo Traoré Keita Sow Cissé Cohen Levi Friedman Katz Rosen
Mizrahi Tupou Fifita Ngata Parata Kealoha Kahale Rodríguez Gómez Hernández Díaz Torres Ramírez Flores Rivera
Aguilar Salazar Quispe Mamani Ó_Ceallaigh Kowalczyk
""")

PET_NAMES = _words("""
Mochi Biscuit Pepper Luna Ziggy Nala Bruno Pickle Waffles Juniper Olive Maple Toffee Noodle Pancake Ginger
Bramble Clementine Dumpling Frodo Gizmo Hazel Jellybean Kiwi Lentil Marmalade Nutmeg Oreo Paprika Pudding Quinoa
Rocket Sesame Tofu Umbra Velvet Wasabi Yoshi Zucchini Basil Chai Domino Espresso Figaro Goose Halloumi Indie
Jasper Kobe Loki Miso Nacho Ozzy Pesto Ruby Sprout Truffle Udon Vinnie Whiskey Yuzu Ziti Bean Cocoa Dottie
""")

CITIES = _items("""
Lisbon|Porto|Kyoto|Osaka|Seoul|Busan|Hanoi|Da Nang|Nairobi|Mombasa|Accra|Lagos|Cape Town|Durban|Marrakesh|Cairo|
Istanbul|Izmir|Athens|Thessaloniki|Naples|Bologna|Valencia|Seville|Bilbao|Lyon|Marseille|Bordeaux|Ghent|Antwerp|
Utrecht|Rotterdam|Hamburg|Leipzig|Munich|Vienna|Graz|Prague|Brno|Kraków|Gdańsk|Vilnius|Riga|Tallinn|Helsinki|
Bergen|Oslo|Gothenburg|Aarhus|Copenhagen|Reykjavik|Edinburgh|Glasgow|Cardiff|Belfast|Cork|Galway|Manchester|
Leeds|Bristol|Toronto|Montreal|Vancouver|Halifax|Chicago|Denver|Austin|Portland|Boston|Atlanta|Mexico City|
Oaxaca|Bogotá|Medellín|Lima|Cusco|Valparaíso|Buenos Aires|Montevideo|São Paulo|Recife|Mumbai|Pune|Chennai|Kochi|
Jaipur|Dhaka|Colombo|Kathmandu|Karachi|Lahore|Dubai|Muscat|Amman|Beirut|Tbilisi|Yerevan|Almaty|Tashkent|Bangkok|
Chiang Mai|Penang|Kuala Lumpur|Jakarta|Yogyakarta|Manila|Cebu|Taipei|Tainan|Chengdu|Hong Kong|Auckland|
Wellington|Hobart|Perth|Melbourne|Adelaide|Honolulu|Addis Ababa|Dakar|Kigali|Windhoek|Zanzibar""")

# Word stock for invented companies, projects, products, streets, venues and titles.
ADJECTIVES = _words("""
Silver Northern Quiet Bright Amber Copper Hidden Golden Misty Crimson Little Velvet Iron Wild Salt
Blue Green Old Lucky Hollow Sunny Frosted Patient Restless Gentle Humble Distant Paper Painted Wandering Lost
Honest Rusty Secret Sleeping Early Crooked""")
NOUNS = _words("""
Falcon Lighthouse Kestrel Juniper Atlas Beacon Compass Harbor Lantern Meridian Orchard Pebble Quarry
Saffron Tundra Willow Anvil Bramble Cinder Ember Fjord Glacier Heron Ibis Jasper Kiln Lagoon Mosaic Nimbus Otter
Prism Quill Rook Summit Thistle Walnut Yarrow Zephyr Basalt Cobalt Driftwood Fennel Granite Magpie Nettle Kettle
Acorn Badger Canyon Dune Fox Garnet Hearth Inlet Lark Marble Needle Oriole Pine Raven Sparrow Tide""")
BRAND_HEADS = _words("North Blue Bright Silver Oak Harbor Summit Cedar Iron Clear Red Maple Pine Stone River Sun")
BRAND_TAILS = _words("wind field gate wave line works leaf bridge point light path forge spring crest brook vale mark")
COMPANY_KINDS = _items("""Analytics|Logistics|Health|Labs|Systems|Foods|Partners|Media|Robotics|Energy|Insurance|
Bank|Studio|Group|Consulting|Mutual|Freight|Pharma""")
BRANDS = _words("""
Velora Kestro Nuvia Tallis Olvane Quorra Zentro Mirabel Castellan Fernway Hollin Lumio Praxa Sorrel Tovin
Varka Wendle Yarno Zelio Arvo Belmar Corvin Dalvi Elkin Frama Gavra Halden Istra Kora Lunet Mavis Nordek Ostra
Pelli Rhoda Sanvi Tresk Ulla Vento""")
STREET_WORDS = _words("""
Elm Birch Chestnut Mill Station Church Harbour Canal Orchard Kings Rosemary Clover Ash Beech Market
Bridge Park Meadow Hill Castle Abbey Victoria Albion Cherry Linden Poplar Foundry Tannery Quay Ropewalk""")
STREET_TYPES = _words("Street Road Lane Avenue Way Close Terrace Place Crescent Row")
SERVICE_HEADS = _words("""
ledger billing auth search notify inventory checkout profile media report ingest catalog payments
scheduler export audit metrics feed chat pricing invoice session upload geo""")
SERVICE_TAILS = _words("api worker gateway sync daemon proxy svc cron web")

# ---------------------------------------------------------------------------------------------------------------
# Value pools: fixed lists (comma separated) and generators
# ---------------------------------------------------------------------------------------------------------------

POOLS: dict[str, tuple[str, ...]] = {name: tuple(v.strip() for v in text.split(",")) for name, text in {
    "allergen": "peanuts, shellfish, sesame, kiwi, mustard, celery, soy, eggs, walnuts, cashews, prawns, mussels, "
                "buckwheat, lupin, strawberries, hazelnuts, pistachios",
    "milk": "oat milk, almond milk, soy milk, lactose-free milk, coconut milk, cashew milk, rice milk, pea milk, "
            "goat's milk, hazelnut milk",
    "coffee": "a flat white, a double espresso, an iced americano, a cortado, a decaf cappuccino, "
              "a vanilla latte, a long black, a macchiato, a cold brew, a mocha with no cream, a piccolo",
    "blood": "A positive, A negative, B positive, B negative, AB positive, AB negative, O positive, O negative",
    "medication": "10 mg lisinopril, 50 mcg levothyroxine, 20 mg omeprazole, 500 mg metformin, "
                  "a vitamin D tablet, 75 mg aspirin, 5 mg amlodipine, 10 mg cetirizine, an iron supplement, "
                  "40 mg atorvastatin, 100 mg sertraline",
    "job_title": "senior data analyst, backend engineer, product designer, staff nurse, maths teacher, "
                 "project coordinator, paralegal, site engineer, UX researcher, quality lead, junior architect, "
                 "sales director, research scientist, logistics planner, copy editor, payroll specialist",
    "bin_day": "Tuesday mornings, Thursday nights, every other Monday, Wednesdays before 7am, Friday mornings, "
               "alternate Thursdays, Sunday evenings",
    "seat_pref": "an aisle seat, a window seat, the exit row, a seat near the front, a bulkhead row, "
                 "an aisle seat near the back",
    "dislike": "coriander, olives, mushrooms, blue cheese, anchovies, beetroot, liquorice, raw onion, okra, "
               "aubergine, mayonnaise, tofu, capers, tinned tuna",
    "commute": "the 27 bus, the Circle line, a folding bike, the 7:42 train, the tram, the ferry, an e-scooter, "
               "the night bus, a car share",
    "payday": "the 25th, the last working day of the month, every second Friday, the 1st, the 15th, the 28th",
    "editor": "Neovim, VS Code, Emacs, Helix, Sublime Text, IntelliJ IDEA, Zed, Kate, PyCharm, nano",
    "timezone": "CET, UTC+5:30, Pacific time, GMT, Singapore time, Eastern time, AEST, UTC-3, Japan Standard Time",
    "hobby": "bouldering, sourdough baking, watercolour painting, trail running, birdwatching, woodworking, "
             "salsa dancing, open-water swimming, film photography, chess, allotment gardening, knitting, "
             "gravel cycling, pottery, choir singing",
    "clothes_size": "small, medium, large, extra large, medium slim fit, large tall, extra small",
    "job": "pharmacist, firefighter, architect, electrician, primary school teacher, journalist, sous-chef, "
           "physiotherapist, translator, accountant, software tester, midwife, landscape gardener, bus driver, "
           "radio producer, carpenter, optician, civil engineer, florist, barista, lawyer, social worker",
    "relationship": "cousin, old flatmate, university friend, neighbour, climbing buddy, former colleague, "
                    "godparent, second cousin, school friend, book-club friend, childhood friend, bandmate, "
                    "running partner, in-law, chess club rival",
    "gift": "a cast-iron skillet, noise-cancelling headphones, a fiddle-leaf fig, a fountain pen, a board game, "
            "a silk scarf, a bread maker, a vinyl record player, concert tickets, a pottery class voucher, "
            "a hammock, a telescope, a label maker, a weighted blanket, an espresso grinder",
    "drink": "sparkling water, rooibos tea, a dry white wine, ginger beer, black coffee, mint tea, a pale ale, "
             "lemonade, kombucha, hot chocolate, a gin and tonic, oolong tea",
    "team": "the payments team, platform engineering, customer success, the data science group, legal, "
            "growth marketing, the mobile squad, finance operations, the design team, site reliability",
    "availability": "Thursday afternoons, weekday evenings, Saturday mornings, Friday lunchtimes, "
                    "Monday before ten, Tuesdays after 3pm, Sunday afternoons",
    "pet_food": "salmon kibble, grain-free duck pâté, raw chicken mince, timothy hay and pellets, senior turkey "
                "kibble, wet food pouches with tuna, lamb and rice biscuits, fresh greens and pellets",
    "pet_med": "a quarter tablet of meloxicam, monthly flea drops, thyroid pills, joint supplement chews, "
               "ear drops, heart tablets, probiotic powder",
    "part": "K-41 water cartridges, HEPA 13 filters, type B descaling tablets, a 40 mm drive belt, "
            "carbon odour pads, brush rollers, RX-9 door seals, grease filters, limescale sachets",
    "phase": "discovery, private beta, code freeze, user testing, maintenance mode, design review, launch prep, "
             "public beta, the pilot phase",
    "database": "Postgres 15, MySQL 8, Redis, SQLite, MongoDB, Cassandra, DynamoDB, ClickHouse, CockroachDB, "
                "Postgres 16",
    "command": "make dev, docker compose up, npm run dev, cargo run --release, just serve, go run ./cmd/server, "
               "./scripts/start.sh, uv run serve, bin/dev, yarn start, mix phx.server, ./gradlew bootRun",
    "language": "Go, Rust, Python, TypeScript, Kotlin, Elixir, Java, C#, Ruby, Scala, Haskell",
    "tier": "family plan, student tier, premium tier, basic plan with ads, annual pro plan, duo plan, "
            "starter bundle",
    "dress_code": "black tie, smart casual, cocktail attire, fancy dress with a seventies theme, all white, "
                  "garden party casual, lounge suits",
    "bring": "a bottle of red, a potato salad, dessert for ten, folding chairs, a bluetooth speaker, two bags "
             "of ice, homemade hummus, paper plates",
    "dish": "the mushroom ramen, the lamb flatbread, the pistachio croissant, the fish tacos, the dal makhani, "
            "the margherita, the pork dumplings, the shakshuka, the chicken katsu, the pastel de nata",
    "prep": "fast from midnight, bring the referral letter, arrive fifteen minutes early, wear loose clothing, "
            "skip caffeine that morning, bring your current glasses, drink a litre of water beforehand",
    "weekday": "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday",
}.items()}

POOLS["city"] = tuple(CITIES)
BREEDS = {
    "dog": _items("beagle, border collie, dachshund, labrador, whippet, shiba inu, corgi, greyhound,poodle mix", ","),
    "cat": _items("Maine Coon, Siamese, British Shorthair, ragdoll, Bengal, tabby, Norwegian Forest cat", ","),
    "rabbit": _items("lop, Netherland dwarf, Rex, Lionhead", ","),
}

MONTHS = _words("January February March April May June July August September October November December")
WORDS: dict[str, list[str]] = {
    "noun": NOUNS, "adj": ADJECTIVES, "street": STREET_WORDS, "street_type": STREET_TYPES, "brand": BRANDS,
    "company_kind": COMPANY_KINDS, "service_tail": SERVICE_TAILS, "first": FIRST_NAMES,
    "weekday": list(POOLS["weekday"]),
    "domain": _words("gmail.com outlook.com proton.me fastmail.com yahoo.co.uk icloud.com hey.com posteo.de"),
    "airline": _words("LX BA KL AF LH TP IB EK QR SQ NH TK ET KQ AC DL UA VS EI SK AY JL"),
    "seat_letter": list("ABCDEFK"),
}

# Generated values. In a pattern, {3d} is three digits, {2L} two letters, {6C} six letters or digits, {1-240} a
# number in that range, {noun} a word from WORDS ({~noun} lower-cased), {word} an invented compound, {time} a clock
# time; {slug}, {fname}, {lname}, {finitial}, {linitial} come from the subject the value belongs to.
PATTERNS: dict[str, tuple[str, ...]] = {name: tuple(x.strip() for x in text.split(" | ")) for name, text in {
    "password": "{noun}{noun}{2d}! | {~noun}-{~adj}-{3d} | {word}#{4d}",
    "pin": "{4d} | {2d}-{2d}-{2d} | {6d}",
    "loyalty": "{2L}{8d} | {4d} {4d} {2d}",
    "title": "The {adj} {noun} | {noun} and {noun} | A {adj} {noun} | Notes from the {noun} | The {noun} Year",
    "company": "{word} {company_kind} | {brand} {company_kind} | {noun} & {noun}",
    "phone": "+44 7700 {3d} {3d} | +1 ({3d}) 555-{4d} | +49 151 {4d} {4d} | +91 98{3d} {5d} | 06 {2d} {2d} {2d} {2d}"
             " | +61 4{2d} {3d} {3d} | +81 90-{4d}-{4d} | +234 803 {3d} {4d} | +351 91{1d} {3d} {3d}",
    "email": "{fname}.{lname}@{domain} | {finitial}{lname}@{domain} | {fname}{2d}@{domain} | {lname}.{fname}@{domain}",
    "handle": "@{fname} | @{fname}.{linitial} | @{fname}_{lname} | @{finitial}{lname}",
    "address": "{1-240} {street} {street_type} | Flat {1-30}, {1-240} {street} {street_type}",
    "microchip": "9{14d}",
    "model_no": "{2L}{4d} | {3L}{3d}-B | {2L}{3d}X | {3L}{4d}/2",
    "shop": "{word} Electrics | {brand} Home | {word} Direct | the {noun} Store",
    "repo": "{~word}/{~noun}-{service_tail} | {~word}/{slug}",
    "channel": "#proj-{~noun} | #team-{~noun} | #dev-{~noun} | #ops-{~noun}",
    "port": "{1024-9999} | {1024-9999} | 8080 | 3000 | 5000 | 8443",
    "version": "{0-9}.{0-30}.{0-20} | v{0-9}.{0-30}.{0-20} | {0-9}.{0-30}.{0-20}-rc1 | v{0-5}.{0-30}.{0-9}-beta.2",
    "url": "https://{slug}.internal.{~word}.io | https://{slug}.prod.{~word}.io | https://{~word}.io/{slug}",
    "ticket": "OPS-{3d} | BUG-{4d} | PLAT-{3d} | PAY-{4d} | WEB-{3d} | INC-{4d} | CORE-{3d} | SEC-{3d}",
    "config_path": "config/prod.yaml | config/local.yaml | /etc/{slug}/settings.toml | .env.local"
                   " | deploy/{slug}/values.yaml | settings/production.json",
    "card_last4": "{4d}",
    "flight": "{airline} {2-2999}",
    "hotel": "Hotel {noun} | the {adj} {noun} Inn | {noun} House | Casa {noun}",
    "booking_ref": "{6C}",
    "seat_no": "{1-45}{seat_letter}",
    "plate": "{2L}{2d} {3L} | {1L}-{2L} {4d} | {1d}{3L}{3d} | {2L} {2d}-{3d}",
    "tyre_pressure": "2.{1-9} bar | {30-38} psi",
    "parking": "level {1-5}, bay {1-180} | space {1-90} on {street} {street_type} | row {1L} of the {~adj} car park",
    "room": "Room {1L}{100-450} | Lab {1-12} | the {noun} Hall | studio {1-9}",
    "venue": "the {noun} Barn | {street} Hall | {noun} Gardens | the rooftop of {noun} House",
    "order_no": "#{1L}{3d}-{4d} | {9d} | ORD-{6d}",
    "clinic": "{street} Medical Centre | the {street} Road clinic | {noun} Health | St {first}'s Hospital",
    "shoe_size": "EU {36-47} | UK {4-12} | US {5-13}.5 | size {37-46}",
    "weekly_slot": "every {weekday} at {time} | {weekday}s at {time} | every other {weekday} at {time}",
}.items()}
SUBJECT_POOLS = ("email", "handle", "url", "config_path", "repo")  # patterns that use the subject
CHARS = {"d": "0123456789", "L": "ABCDEFGHJKLMNPRSTUVWXYZ", "C": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}
TOKEN = re.compile(r"\{(~?)([^{}]+)\}")
REPEAT = re.compile(r"(\d+)([dLC])")
RANGE = re.compile(r"(\d+)-(\d+)")


def _date(rng: random.Random, years: tuple[int, int], with_year: bool = True) -> str:
    """A date in one of several formats."""
    y, m, d = rng.randint(*years), rng.randint(1, 12), rng.randint(1, 28)
    month = MONTHS[m - 1]
    nth = f"{d}{'th' if 10 < d < 14 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"
    forms = [f"{d} {month}", f"{month} {d}", f"the {nth} of {month}", f"{month[:3]} {nth}"]
    if with_year:
        forms += [f"{d} {month} {y}", f"{month} {d}, {y}", f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}"]
    return rng.choice(forms)


def _time(rng: random.Random) -> str:
    """A clock time, 24-hour or am/pm."""
    h, m = rng.randint(6, 21), rng.choice((0, 0, 15, 30, 45, 10, 40))
    half = f"{(h - 1) % 12 + 1}{f':{m:02d}' if m else ''} {'am' if h < 12 else 'pm'}"
    return rng.choice((f"{h:02d}:{m:02d}", half, f"{h}.{m:02d}"))


def _money(rng: random.Random, lo: int, hi: int, step: int = 1, cents: float = 0.0) -> str:
    """An amount in one of several currencies and notations."""
    text = f"{rng.randrange(lo, hi, step):,}"
    if rng.random() < cents:
        text += "." + rng.choice(("99", "50", "49", "95", "20"))
    return rng.choice((f"€{text}", f"${text}", f"£{text}", f"{text} CHF", f"A${text}", f"{text} euros"))


FUNCTIONS: dict[str, Callable[[random.Random], str]] = {
    "date_future": lambda r: _date(r, (2025, 2027)),
    "date_past": lambda r: _date(r, (2015, 2024)),
    "birthday": lambda r: _date(r, (1950, 2006), with_year=r.random() < 0.3),
    "time": _time,
    "money_small": lambda r: _money(r, 5, 180, cents=0.5),
    "money_mid": lambda r: _money(r, 40, 1500, cents=0.3),
    "money_rent": lambda r: _money(r, 600, 3000, step=25),
    "money_large": lambda r: _money(r, 10_000, 900_000, step=5_000),
}


def _word(rng: random.Random) -> str:
    """An invented compound name ("Cedarbrook")."""
    return rng.choice(BRAND_HEADS) + rng.choice(BRAND_TAILS)


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", plain.lower())


def expand(pattern: str, rng: random.Random, subject: Subject) -> str:
    """Fills a PATTERNS pattern (see there)."""
    def one(m: re.Match[str]) -> str:
        lower, key = m.groups()
        if repeat := REPEAT.fullmatch(key):
            out = "".join(rng.choice(CHARS[repeat[2]]) for _ in range(int(repeat[1])))
        elif span := RANGE.fullmatch(key):
            out = str(rng.randint(int(span[1]), int(span[2])))
        elif key in WORDS:
            out = rng.choice(WORDS[key])
        elif key == "word":
            out = _word(rng)
        elif key == "time":
            out = _time(rng)
        elif key == "slug":
            out = subject.extra or rng.choice(NOUNS).lower()
        else:  # fname, lname, finitial, linitial
            name = _ascii(subject.first or rng.choice(FIRST_NAMES)) if key[0] == "f" else \
                _ascii(subject.last or rng.choice(SURNAMES))
            out = name[0] if key.endswith("initial") else name
        return out.lower() if lower else out
    return TOKEN.sub(one, pattern)


# ---------------------------------------------------------------------------------------------------------------
# Relations. "@kind name | terse label | value pool [| link=how questions name the target] [| implies=...]"
# then "- " memory sentences and "? " questions. A link's value is a person; `implies` lists that person's
# relations the link already states (a dentist's job), which they must then not state again.
# ---------------------------------------------------------------------------------------------------------------

USER_RELATIONS = """
@user allergy | allergies | allergen
- {s} [am|is] allergic to {v}.
- Eating {v} gives [me|the user] a nasty reaction, so keep it off the menu.
- The allergist confirmed it: {v} is off limits for [me|the user].
- {s} [carry|carries] antihistamines everywhere because of {v}.
- Never put {v} in anything cooked for [me|the user].
? Is there any food that makes me break out in hives?
? What should a restaurant be warned about before cooking for me?
? Which ingredient triggers my reaction?
? What am I allergic to?
? Why do I keep antihistamines in my bag?


@user milk | milk | milk
- {s} switched to {v} because dairy upsets [my|their] stomach.
- Only {v} in the fridge for [me|the user] these days.
- Cow's milk doesn't agree with [me|the user]; {v} is the substitute.
- {s} [take|takes] {v} in tea and coffee.
? What milk should I get for my coffee?
? What should I pour on my cereal?
? What do I use instead of regular dairy?
? Which carton belongs in the shopping basket for my morning brew?


@user coffee | usual coffee | coffee
- {p} usual café order is {v}.
- At the café it's always {v} for [me|the user].
- {s} [start|starts] every workday with {v}.
- Coffee order for [me|the user]: {v}.
? What do I normally get at the coffee shop?
? If you're buying me something from the barista, what should it be?
? What do I usually order when we stop somewhere for caffeine?
? What's my regular coffee order?


@user blood | blood type | blood
- {p} blood type is {v}.
- Blood group on {p} donor card: {v}.
- {s} [am|is] {v}, according to the hospital records.
- For emergencies: {s} [have|has] {v} blood.
? What blood group am I?
? If I ever need a transfusion, what type do they need to match?
? What does my donor card say about me?
? What's my blood type?


@user shoe | shoe size | shoe_size
- {s} [wear|wears] {v} shoes.
- {p} feet are {v}, sometimes half a size up in boots.
- Shoe size for [me|the user]: {v}.
- Ordered trainers in {v} and they fit [me|the user] perfectly.
? What size should I pick when ordering sneakers online?
? How big are my feet?
? Which size of hiking boots would fit me?
? What's my shoe size?


@user birthday | birthday | birthday
- {p} birthday is {v}.
- {s} was born on {v}.
- {s} [turn|turns] a year older on {v}.
- Cake day for [me|the user]: {v}.
? When do I celebrate getting older?
? What date was I born?
? When's my birthday?
? On what day should people send me cards?


@user medication | daily medication | medication
- {s} [take|takes] {v} every morning.
- {p} prescription: {v}, with breakfast.
- Picked up another month of {v} for [me|the user] from the pharmacy.
- {s} [need|needs] {v} daily; don't let [me|them] forget it.
? What pill do I swallow with breakfast?
? Which tablets do I need a refill of each month?
? What medication am I on?
? What do I have to remember to take every day?


@user employer | employer | company
- {s} [work|works] at {v}.
- {p} employer is {v}.
- {s} joined {v} two years ago and [am|is] still there.
- {p} day job: {v}.
? Which company pays my salary?
? Who do I work for?
? Where am I employed?
? What's the name of the firm I'm at?


@user job_title | job title | job_title
- {s} [am|is] a {v}.
- {p} title at work is {v}.
- {s} got promoted to {v} last spring.
- {p} role on the org chart: {v}.
? What's my position at work?
? What do I do for a living?
? What's my role called on my badge?
? What job title should I put on the form?


@user wifi | home wifi password | password
- {p} home wifi password is {v}.
- Router at [my|the user's] place: network password {v}.
- Guests at [my|the user's] flat can join the network with {v}.
- [My|The user's] home wifi key: {v}.
? What do I type to get a visitor online at my flat?
? How does someone log on to the internet at my place?
? What's the network key at home?
? What's my home wifi password?


@user bins | bin day | bin_day
- Bins go out on {v} at [my|the user's] place.
- {s} [put|puts] the recycling out on {v}.
- Rubbish collection for [my|the user's] street: {v}.
- Reminder: bin day for [me|the user] is {v}.
? When should I drag the rubbish to the kerb?
? What day does the garbage truck come by my house?
? When is collection for my recycling?
? Which day is bin day for me?


@user rent | monthly rent | money_rent
- {p} rent is {v} a month.
- {s} [pay|pays] {v} in rent on the first of the month.
- [My|The user's] rent went up to {v} this year.
- Monthly housing cost for [me|the user]: {v}.
? How much do I hand over to live in my flat each month?
? What does my apartment cost me monthly?
? How much is my rent?
? What's the amount of my standing order to the landlord?


@user locker | gym locker code | pin
- {p} gym locker combination is {v}.
- {p} locker at the gym opens with {v}.
- {s} set the changing-room lock to {v}.
- Gym padlock code for [me|the user]: {v}.
? How do I open my locker after a workout?
? What numbers unlock my stuff at the fitness centre?
? What's the combination for my gym locker?
? I forgot the code for my padlock at the gym, what is it?


@user passport | passport expiry | date_future
- {p} passport expires on {v}.
- Renew {p} passport before {v}, when it lapses.
- {s} [need|needs] a new passport by {v}.
- Travel document expiry for [me|the user]: {v}.
? Until when can I still travel on my current passport?
? When does my passport run out?
? By what date do I need to renew my travel ID?
? When is my passport expiry?


@user loyalty | frequent flyer number | loyalty
- {p} frequent flyer number is {v}.
- {p} airline miles go to account {v}.
- {s} [collect|collects] air miles under {v}.
- Loyalty no. for [me|the user]: {v}.
? What membership number should I add when booking a flight?
? Which account collects my air miles?
? What's my frequent flyer number?
? What number do I give the airline for points?


@user seat | seat preference | seat_pref
- {s} always [pick|picks] {v} on planes.
- {s} [prefer|prefers] {v} when flying.
- Book {v} for [me|the user], please.
- Flights for [me|the user]: {v} if possible.
? Where do I like to sit when I fly?
? What should you choose when reserving my place on the aircraft?
? Which spot in the cabin do I go for?
? What's my seat preference?


@user dislike | foods disliked | dislike
- {s} can't stand {v}.
- No {v} for [me|the user], hate the taste.
- {s} [pick|picks] {v} out of every dish.
- Leave out {v} when cooking for [me|the user].
? Which ingredient do I think tastes awful?
? What food do I refuse to eat?
? What flavour do I hate?
? What food do I dislike?


@user wake | weekday alarm | time
- {p} alarm goes off at {v} on weekdays.
- {s} [get|gets] up at {v} during the week.
- Weekday wake-up for [me|the user]: {v}.
- {s} [set|sets] the alarm for {v} before work.
? What time do I rise on workdays?
? How early am I out of bed Monday to Friday?
? What time does my alarm ring?
? When do I wake up on weekdays?


@user commute | commute | commute
- {s} [take|takes] {v} to the office.
- {p} daily commute is {v}.
- {s} [get|gets] to work on {v}.
- Commute for [me|the user]: {v}, about forty minutes door to door.
? How do I get to work?
? What transport brings me to my job?
? How do I travel in the mornings?
? What's my route to the office?


@user groceries | grocery budget | money_small
- {s} [try|tries] to keep groceries under {v} a week.
- {p} weekly food shop budget: {v}.
- {p} supermarket limit is {v} per week.
- {s} [spend|spends] at most {v} on food each week.
? How much can I spend at the supermarket weekly?
? What's my limit for the food shop?
? What's my grocery budget?
? How much money is set aside for buying food every week?


@user payday | payday | payday
- {s} [get|gets] paid on {v}.
- {p} salary arrives on {v}.
- {p} wages land on {v}.
- Payday for [me|the user]: {v}.
? When does my salary come in?
? On what date do I receive my wages?
? When's payday?
? When should I expect money from my employer?


@user editor | code editor | editor
- {s} [code|codes] in {v}.
- {p} editor of choice is {v}.
- {s} [use|uses] {v} for all programming work.
- Editor for [me|the user]: {v}, with a dark theme.
? Which tool do I write software in?
? What program do I open to write code?
? What's my preferred text editor?
? If you give me setup steps, which IDE should they target?


@user timezone | time zone | timezone
- {s} [am|is] on {v}.
- {p} clock runs on {v}.
- Time zone for [me|the user]: {v}.
- Schedule calls for [me|the user] in {v}.
? What zone should meeting invites use for me?
? Which offset is my local time?
? What hours am I in?
? What's my time zone?


@user hometown | hometown | city
- {s} grew up in {v}.
- {p} hometown is {v}.
- {s} spent [my|their] childhood in {v}.
- {s} [am|is] originally from {v}.
? Where was I raised?
? Which city do I come from?
? Where did I live as a kid?
? What's my hometown?


@user reading | current book | title
- {s} [am|is] halfway through {v}.
- On {p} nightstand: {v}.
- {s} started reading {v} last week.
- Current read for [me|the user]: {v}.
? What novel am I in the middle of?
? What's on my bedside table to read?
? Which book did I just begin?
? What am I reading at the moment?


@user hobby | hobby | hobby
- {s} [spend|spends] weekends on {v}.
- {p} favourite way to unwind is {v}.
- {s} took up {v} last year.
- {p} hobby: {v}.
? What do I do to relax on Saturdays?
? What pastime did I pick up recently?
? What's my hobby?
? How do I like to spend free time?


@user clothes | clothing size | clothes_size
- {s} [wear|wears] {v} in shirts.
- {p} clothing size is {v}.
- Tops for [me|the user]: {v}.
- {s} [fit|fits] {v} in jackets.
? What size of T-shirt should you order for me?
? What size do I take in tops?
? What clothing size am I?
? Which size jacket fits me?


@user dentist | dentist | person | link={p} dentist | implies=job,relationship
- {p} dentist is {v}.
- {s} [see|sees] {v} for check-ups twice a year.
- {p} teeth cleaning is with {v} every six months.
- Dental care for [me|the user]: {v}.
? Who looks after my teeth?
? Who do I visit for a check-up of my molars?
? Who's my dentist?
? Which person scales and polishes my teeth?


@user gp | family doctor | person | link={p} doctor | implies=job,relationship
- {p} GP is {v}.
- {s} [am|is] registered with {v} at the local practice.
- {p} family doctor: {v}.
- When {s} [get|gets] sick, {v} is the one to call.
? Who do I see when I feel unwell?
? Which physician am I registered with?
? Who's my family doctor?
? Who's my GP?


@user manager | manager | person | link={p} manager | implies=employer,relationship
- {s} [report|reports] to {v}.
- {p} manager is {v}.
- Line manager for [me|the user]: {v}.
- {v} signs off on [my|the user's] holiday requests.
? Who's my boss?
? Who approves my time off?
? Who do I report to?
? Who's my manager?


@user landlord | landlord | person | link={p} landlord | implies=relationship
- {p} landlord is {v}.
- {s} [rent|rents] the flat from {v}.
- Leaks and repairs at [my|the user's] flat: call {v}, the owner.
- Landlord for [me|the user]: {v}.
? Who owns the place I live in?
? Who should I contact when the boiler breaks in my rental?
? Who's my landlord?
? Who do I pay for housing?


@user partner | partner | person | link={p} partner | implies=partner,relationship
- {p} partner is {v}.
- {s} [live|lives] with {v}, [my|their] partner of six years.
- {s} and {v} got engaged in the spring.
- {p} spouse: {v}.
? Who am I in a relationship with?
? Who's my significant other?
? Who's my partner?
? Who am I going to marry?


@user sibling | sibling | person | link={p} sibling | implies=relationship
- {p} only sibling is {v}.
- {v} is [my|the user's] younger sibling.
- {s} grew up with one sibling, {v}.
- Family note for [me|the user]: sibling is {v}.
? Who did I share a childhood home with as a brother or sister?
? What's my sibling's name?
? Who is my sibling?
? Which family member was born to the same parents as me?


@user best_friend | best friend | person | link={p} best friend | implies=relationship
- {p} best friend is {v}.
- {s} [have|has] known {v} since primary school, closest friend by far.
- {v} is the friend [I|the user] [trust|trusts] most.
- {p} best mate: {v}.
? Who's my closest friend?
? Who do I trust most among my mates?
? Who's my best friend?
? Who's the one mate I'd call first with big news?


@user emergency | emergency contact | person | link={p} emergency contact | implies=relationship
- {p} emergency contact is {v}.
- In an emergency, call {v} for [me|the user].
- {s} listed {v} as next of kin.
- ICE contact for [me|the user]: {v}.
? Who should be phoned if something happens to me?
? Whose number did I give in case I end up in hospital?
? Who should the hospital call on my behalf?
? Who is my emergency contact?

"""

PERSON_RELATIONS = """
@person birthday | birthday | birthday
- {p} birthday is {v}.
- {s} was born on {v}.
- {s} turns a year older on {v}.
- Don't forget {p} birthday on {v}!
? When should I get a card in the post for {s}?
? What date was {s} born?
? When is {p} birthday?
? On what day does {s} celebrate getting older?
? Which day should I keep free to throw {s} a surprise party?

@person phone | phone | phone
- {p} number is {v}.
- {s} can be reached on {v}.
- Call {s} at {v}.
- Mobile for {s}: {v}.
? I need to ring {s} about tonight, what digits do I dial?
? What's {p} phone number?
? If I want to text {s}, which mobile should I use?
? How do I reach {s} urgently by calling?

@person email | email | email
- {p} email is {v}.
- Write to {s} at {v}.
- {s} uses {v} for everything.
- Email for {s}: {v}.
? What address do I use to message {s} electronically?
? Where should I send the invitation so {s} sees it in their inbox?
? How can I reach {s} by email?
? Which inbox belongs to {s}?

@person job | job | job
- {s} works as a {v}.
- {s} is a {v} by trade.
- {p} job: {v}.
- {s} has been a {v} for a decade.
? What does {s} do for a living?
? What's {p} occupation?
? What line of work is {s} in these days?
? What's {p} job?
? If I need professional advice, what field could {s} help me with?

@person employer | employer | company
- {s} works at {v}.
- {p} employer is {v}.
- {s} just started a new job at {v}.
- {s} is with {v} these days.
? Which company pays {p} salary?
? At what organisation is {s} employed these days?
? Who does {s} work for?
? If I wanted a referral, which firm could {s} put me forward at?

@person city | city | city
- {s} lives in {v}.
- {s} moved to {v} last year.
- {s} is based in {v} now.
- Home city of {s}: {v}.
? Which city is {s} living in these days?
? Which city would I have to fly to if I wanted to visit {s}?
? In what town is {s} based?
? Where in the world has {s} settled down?

@person relationship | relationship | relationship
- {s} is [my|the user's] {v}.
- {s}, [my|the user's] {v}, dropped by today.
- [I know|The user knows] {s} as [my|their] {v}.
- Contact note: {s} is [my|the user's] {v}.
? How do I know {s}?
? What's my connection to {s}, remind me?
? Who is {s} to me, again?
? How is {s} linked to my life?

@person gift | gift idea | gift
- {s} has been wanting {v}.
- Gift idea for {s}: {v}.
- {s} mentioned how much they'd love {v}.
- Next present for {s}: {v}.
? What could I buy {s} as a present?
? What would make {s} happy as a surprise for an upcoming celebration?
? What gift should I get {s}?
? What's on {p} wish list this year?

@person allergy | allergy | allergen
- {s} is allergic to {v}.
- No {v} when {s} comes for dinner.
- {s} reacts badly to {v}.
- Allergy note for {s}: {v}.
? What should I avoid cooking when {s} visits?
? Which food is off-limits for {s} at a dinner party?
? What is {s} allergic to?
? What ingredient should I leave out of the meal I'm preparing for {s}?

@person drink | favourite drink | drink
- {p} favourite drink is {v}.
- {s} always asks for {v}.
- Keep {v} in the fridge for when {s} visits.
- {s} drinks {v}, nothing else.
? What should I offer {s} to sip when they arrive?
? What should I pour for {s} when they come over tonight?
? What beverage does {s} enjoy?
? What's {p} go-to drink?

@person team | team | team
- {s} is on {v}.
- {s} moved to {v} in the reorg.
- {p} team: {v}.
- {s} sits with {v}.
? Which group does {s} belong to at work?
? What department is {s} part of at the company?
? Which team is {s} on?
? Where does {s} fit in the org chart, department-wise?

@person address | home address | address
- {s} lives at {v}.
- {p} address: {v}.
- Send post for {s} to {v}.
- {s} moved house to {v}.
? Where should I post a letter to {s}?
? What's {p} street address?
? Where do I mail a parcel so it reaches {s}?
? Which house should I drive to when visiting {s}?

@person owes | money owed | money_small
- {s} owes [me|the user] {v} for the concert tickets.
- [I|The user] lent {s} {v}; still not paid back.
- Outstanding: {s} owes {v}.
- {s} still has to pay [me|the user] back {v}.
? How much is {s} supposed to pay me back?
? What's the amount {s} is still in debt to me?
? How much money did I lend {s}?
? How much does {s} owe me?

@person availability | availability | availability
- {s} is free on {v}.
- Best time to catch {s}: {v}.
- {s} only takes meetings on {v}.
- Book {s} for {v}; other slots are busy.
? When can I get some time with {s}?
? When should I schedule a call with {s} so they can actually join?
? When is {s} available?
? What slot in the week works for {s}?

@person partner | partner | person | link={p} partner | implies=partner
- {s} is married to {v}.
- {p} partner is {v}.
- {s} and {v} have been together for years.
- {s} lives with their partner, {v}.
? Who is {s} married to?
? Who's {p} other half?
? Who is {p} spouse, and should I invite them too?
? Who does {s} share a home with as a couple?

@person handle | chat handle | handle
- {s} is {v} on Slack.
- Ping {s} at {v}.
- {p} chat handle is {v}.
- {s} goes by {v} in the team chat.
? How do I mention {s} in a message so they get notified?
? What username does {s} have on Slack?
? How do I tag {s} in the group chat?
? What's {p} handle?
"""

THING_RELATIONS = """
@pet breed | breed | breed
- {s} is a {v}.
- {p} breed: {v}.
- The vet thinks {s} is mostly {v}.
- {s}, the {v}, needs a lot of exercise.
? What kind of animal is {s} exactly?
? Which breed is {s}?
? If the groomer asks what {s} is, what do I say?
? What pedigree does {s} have, for the insurance form?

@pet food | food | pet_food
- {s} eats {v}.
- {p} dinner is {v}, twice a day.
- Only {v} for {s}, anything else upsets the stomach.
- Food for {s}: {v}.
? What should I put in {p} bowl at mealtimes?
? What do I feed {s}?
? What should I buy at the pet shop for {s} to eat?
? What's {p} diet, so I don't upset anything?

@pet adopted | adoption date | date_past
- {s} came home on {v}.
- {s} was adopted on {v}.
- {p} gotcha day is {v}.
- Adopted {s} from the shelter on {v}.
? When did {s} join the family?
? What day did {s} first come home with a new owner?
? When's {p} adoption anniversary?
? When did {s} get rescued?

@pet medication | medication | pet_med
- {s} gets {v} every day.
- {p} medicine: {v}.
- Don't forget {v} for {s}.
- The vet put {s} on {v}.
? What medicine does {s} need?
? What treatment is {s} on at the moment?
? What do I have to give {s} daily to keep them healthy?
? What did the vet prescribe for {s}?

@pet chip | microchip number | microchip
- {p} microchip number is {v}.
- {s} is chipped: {v}.
- Chip ID for {s}: {v}.
- If {s} gets lost, the scanner will read {v}.
? What's the ID on {p} implant?
? What number identifies {s} if a stranger finds them?
? What's {p} microchip number?
? Which code is registered for {s} in the pet database?

@pet vet | vet | person | link={p} vet | implies=job
- {p} vet is {v}.
- {s} sees {v} at the animal clinic.
- Vet for {s}: {v}.
- {v} treats {s} whenever something's wrong.
? Who looks after {s} when sick?
? Which animal doctor does {s} go to for jabs?
? Who is {p} vet?
? Who should I call if {s} gets hurt on a walk?

@pet sitter | pet sitter | person | link={p} sitter
- {v} looks after {s} during holidays.
- {p} sitter is {v}.
- Holiday care for {s}: {v}.
- {v} has a spare key to feed {s}.
? Who minds {s} when the owners travel?
? Who can feed {s} when nobody's home?
? Who is {p} sitter?
? Who has keys to take care of {s} over a long weekend?

@appliance model | model number | model_no
- {p} model number is {v}.
- {s} is model {v}.
- Model {v}, per the sticker inside {s}.
- {s}: model {v}, bought new.
? What's the exact model of {s}?
? What product code should I give the repair shop for {s}?
? Which model is {s}?
? What's printed on the label of {s}, for ordering spares?

@appliance warranty | warranty | date_future
- {p} warranty runs until {v}.
- {s} is covered until {v}.
- Guarantee on {s} expires {v}.
- Warranty ends {v} for {s}.
? How long will {s} be fixed for free?
? Until when is {s} covered if it breaks?
? When does the guarantee on {s} lapse?
? When does {p} warranty expire?

@appliance part | replacement part | part
- {s} takes {v}.
- Replacement part for {s}: {v}.
- Buy {v} when {s} needs servicing.
- {s} needs new {v} every few months.
? What spare should I order for {s}?
? What do I buy to service {s}?
? Which consumable goes in {s} when the light blinks?
? What part does {s} use?

@appliance shop | bought from | shop
- {s} was bought at {v}.
- Got {s} from {v}.
- Receipt for {s} is from {v}.
- {s} came from {v}.
? Where did I buy {s}?
? Which retailer sold {s}, in case I need the receipt?
? Which store should {s} go back to if it fails?
? Which shop did I get {s} at?

@appliance technician | repair technician | person | link={p} repair person | implies=job
- {v} repairs {s}.
- Call {v} when {s} breaks.
- {p} technician: {v}.
- {v} fixed {s} last time.
? Who fixes {s}?
? Who should I phone when {s} stops working?
? Who's the repair person for {s}?
? Who did the last repair on {s}, and can I get them again?

@project deadline | deadline | date_future
- {s} is due on {v}.
- {p} deadline is {v}.
- Deadline for {s}: {v}.
- {s} must ship by {v}.
? When does {s} need to be finished?
? When is {s} due?
? What's the cutoff date for {s}?
? By when has {s} got to be delivered to the customer?

@project lead | lead | person | link={p} lead
- {v} leads {s}.
- {p} lead is {v}.
- {s} is run by {v}.
- Owner of {s}: {v}.
? Who is in charge of {s}?
? Who runs {s} day to day?
? Who's the lead on {s}?
? Whom do I escalate to when {s} slips?

@project client | client | company
- {s} is for {v}.
- {p} client is {v}.
- Customer for {s}: {v}.
- {v} is paying for {s}.
? Who is {s} being built for?
? Which customer commissioned {s}?
? Who's the client of {s}?
? Which company is funding {s}, and whom do we invoice?

@project budget | budget | money_large
- {p} budget is {v}.
- {s} has {v} to spend.
- Budget approved for {s}: {v}.
- Finance signed off {v} for {s}.
? How much money has {s} got?
? What's the spending cap on {s} before we need sign-off?
? What's {p} budget?
? How much funding was approved for {s}?

@project repo | repository | repo
- {p} code lives in {v}.
- {s} repo: {v}.
- Clone {v} to work on {s}.
- Source for {s} is at {v}.
? Where does the code for {s} live?
? What do I git clone to start contributing to {s}?
? Which repository holds {s}?
? Where is {p} source?

@project sync | sync meeting | weekly_slot
- {s} sync is {v}.
- The crew on {s} meets {v}.
- Weekly check-in for {s}: {v}.
- Standup for {s} happens {v}.
? When do people working on {s} gather each week?
? When is the {s} sync?
? What time is the recurring meeting for {s}, so I can join?
? When's the weekly call about {s}?

@project channel | chat channel | channel
- {s} discussion happens in {v}.
- {p} channel: {v}.
- Post {s} updates to {v}.
- Questions about {s} go to {v}.
? Where do people talk about {s}?
? Which Slack room is for {s}?
? Where should I post news on {s} so everyone sees it?
? What channel covers {s}?

@project phase | status | phase
- {s} is in {v}.
- {p} status: {v}.
- {s} just entered {v}.
- {s} moved to {v} this week.
? What stage is {s} at?
? How far along is {s} right now?
? What phase is {s} in?
? Is {s} still early, or close to release?

@service port | port | port
- {s} listens on port {v}.
- {s} runs on :{v}.
- Port for {s}: {v}.
- Moved {s} to port {v} to avoid a clash.
? Which port do I hit to reach {s} locally?
? What number does {s} bind to when it boots?
? Where does {s} accept connections on my laptop?
? What's the port of {s}?

@service version | deployed version | version
- {s} is on {v} in production.
- Deployed {s} {v} today.
- {p} current release: {v}.
- Bumped {s} to {v}.
? Which release of {s} is live?
? What build of {s} is running for customers right now?
? What version is {s} at?
? What did we last ship for {s}?

@service database | database | database
- {s} stores its data in {v}.
- {p} database is {v}.
- {s} is backed by {v}.
- Storage for {s}: {v}.
? What datastore sits behind {s}?
? Where does {s} persist its records?
? What database does {s} use?
? Which DB engine powers {s}, for the migration plan?

@service owner | owner | person | link={p} maintainer
- {v} owns {s}.
- {p} maintainer is {v}.
- Ask {v} about anything in {s}.
- {s} is maintained by {v}.
? Who maintains {s}?
? Who should I ask when {s} breaks at night?
? Who owns {s}?
? Who's responsible for {s}, for code review?

@service start | start command | command
- Start {s} locally with `{v}`.
- Run `{v}` to bring up {s}.
- {s} comes up with `{v}`.
- To launch {s} on a laptop, type `{v}`.
? How do I run {s} on my machine?
? What command spins up {s} for development?
? How do I start {s}?
? What do I type in the terminal to boot {s}?

@service url | url | url
- {s} is deployed at {v}.
- {p} endpoint: {v}.
- {s} lives at {v}.
- Hit {v} to reach {s}.
? Where is {s} hosted?
? What address serves {s} on the network?
? What's the URL of {s}?
? Where can I open {s} in a browser to check it's up?

@service language | language | language
- {s} is written in {v}.
- {s} was rewritten in {v} last quarter.
- {p} codebase: {v}.
- {s} is implemented in {v}.
? What programming language is {s} built with?
? What language should I know to contribute to {s}?
? What is {s} coded in?
? Which compiler or interpreter do I need for {s}?

@service ticket | open bug ticket | ticket
- The flaky login bug in {s} is tracked as {v}.
- {s} timeout issue: see {v}.
- Filed {v} for the memory leak in {s}.
- Known bug in {s}: {v}.
? What's the ticket number for the problem with {s}?
? Which issue tracks the defect in {s}?
? Where is the bug in {s} logged?
? What should I reference in my pull request when fixing {s}?

@service config | config file | config_path
- {s} reads settings from {v}.
- {p} config lives in {v}.
- Edit {v} to change {s}.
- Config for {s}: {v}.
? Where does {s} look for its settings?
? Which file do I edit to configure {s}?
? Where is {p} config?
? What path holds the options of {s}, if I need to tweak a flag?

@subscription price | price | money_small
- {s} costs {v} a month.
- {p} price went up to {v}.
- Paying {v} monthly for {s}.
- {s}: {v} per month.
? How much am I charged for {s}?
? What does {s} cost me each billing cycle?
? How much does {s} take out of my account?
? What's the monthly fee of {s}?

@subscription renewal | renewal date | date_future
- {s} renews on {v}.
- Next charge for {s}: {v}.
- {s} auto-renews {v} unless cancelled.
- Cancel {s} before {v}.
? When will {s} bill me again?
? When does {s} renew?
? By what date must I cancel {s} to avoid paying again?
? When's the next payment for {s} coming out?

@subscription login | login | email
- {s} login: {v}.
- Sign in to {s} with {v}.
- {p} account is under {v}.
- The account for {s} is {v}.
? Which username do I sign into {s} with?
? What account is {s} registered under?
? What's the login for {s}?
? Which email address should I type when {s} logs me out?

@subscription tier | plan tier | tier
- {s} is on the {v}.
- {p} tier: {v}.
- Upgraded {s} to the {v}.
- {s}, {v}.
? Which tier of {s} am I on?
? What level of {s} am I paying for?
? What kind of deal do I have with {s}?
? Which package did I pick for {s} when I signed up?

@subscription card | payment card | card_last4
- {s} is charged to the card ending {v}.
- Payment for {s} comes off the card ending in {v}.
- {p} billing card: ending {v}.
- {s} bills the Visa ending in {v}.
? Which card pays for {s}?
? What card number does {s} charge?
? Which bank card is {s} billed to, in case it expires?
? What are the last digits of the card on {s}?

@trip flight | flight | flight
- {s}: flight {v}.
- Flying {v} for {s}.
- Booked {v} for {s}.
- {p} outbound flight is {v}.
? What flight am I on for {s}?
? Which plane do I catch for {s}?
? What's the flight number for {s}?
? What should I enter in the airline app to check in for {s}?

@trip hotel | hotel | hotel
- {p} hotel is {v}.
- Staying at {v} during {s}.
- Accommodation for {s}: {v}.
- Booked {v} for {s}, three nights.
? Where am I sleeping during {s}?
? Where's my accommodation on {s}?
? Where am I staying on {s}, for the taxi driver?
? Which hotel did I book for {s}?

@trip booking | booking reference | booking_ref
- {p} booking reference is {v}.
- Confirmation code for {s}: {v}.
- {s} ref: {v}.
- Check in for {s} with code {v}.
? What's the confirmation number for {s}?
? Which code do I show at the desk for {s}?
? What's the booking ref for {s}?
? What reference did the agency give me for {s}?

@trip departure | departure | date_future
- {s} starts on {v}.
- Leaving for {s} on {v}.
- {p} departure: {v}.
- Off on {s} on {v}.
? When do I head off for {s}?
? What day do I leave for {s}?
? When does {s} begin?
? What's the departure date of {s}, so I can pack in time?

@trip seat | seat | seat_no
- {p} seat is {v}.
- Got seat {v} for {s}.
- Seat {v} on the flight for {s}.
- Seat on {s}: {v}.
? Which place in the cabin did I reserve for {s}?
? Where on the plane am I sitting for {s}?
? What's my seat number on {s}?
? Which row and letter are mine on {s}?

@trip companion | travel companion | person
- {v} is coming along on {s}.
- {s} with {v}.
- Travelling with {v} for {s}.
- {v} joins {s}.
? Who's coming with me on {s}?
? Who am I travelling together with on {s}?
? Who else is going on {s}?
? Who did I invite along on {s}?

@vehicle plate | licence plate | plate
- {p} plate is {v}.
- {s} is registered as {v}.
- {s} registration: {v}.
- Number plate on {s}: {v}.
? What's the registration of {s}?
? What do I enter in the parking app for {s}?
? What's the number plate of {s}?
? Which plate does {s} have, for the toll account?

@vehicle service_due | next service | date_future
- {s} is due for a service on {v}.
- Next garage visit for {s}: {v}.
- {p} inspection is due {v}.
- Book {s} in for maintenance by {v}.
? When does {s} need to go to the garage?
? When is {s} due for maintenance?
? What's the date of the next check-up for {s}?
? When is {p} next service?

@vehicle tyres | tyre pressure | tyre_pressure
- {p} tyres should be at {v}.
- Pump {s} up to {v}.
- Tyre pressure for {s}: {v}.
- {s} runs best on {v} in the tyres.
? How much air should go in {p} wheels?
? What pressure do I inflate {s} to at the petrol station?
? What's the recommended tyre pressure for {s}?
? How hard should {p} tyres be pumped before a long drive?

@vehicle insurer | insurer | company
- {s} is insured with {v}.
- {p} insurance is through {v}.
- Insurer for {s}: {v}.
- Renewed cover for {s} with {v}.
? Who covers {s} in a crash?
? Which company insures {s}?
? Who do I call about a claim on {s} after a scrape?
? Who's the insurer of {s}?

@vehicle parking | parking spot | parking
- {s} is parked at {v}.
- Left {s} on {v}.
- {p} parking spot: {v}.
- {s} stays at {v} overnight.
? Where did I leave {s}?
? Where can I find {s} when I come back from shopping?
? Where is {s} parked?
? What's the spot for {s}, I've forgotten?

@vehicle mechanic | mechanic | person | link={p} mechanic | implies=job
- {v} services {s}.
- {p} mechanic is {v}.
- Take {s} to {v} for repairs.
- {v} knows {s} inside out.
? Who do I trust to get {s} back on the road?
? Who should I take {s} to when it makes a strange noise?
? Who's the mechanic for {s}?
? Who works on {s} when the warning light comes on?

@course instructor | instructor | person | link={p} teacher
- {s} is taught by {v}.
- {p} instructor is {v}.
- {v} runs {s}.
- Teacher for {s}: {v}.
? Who teaches {s}?
? Who leads the sessions of {s}?
? Who's the instructor for {s}?
? Whom do I email about missing a week of {s}?

@course room | room | room
- {s} meets in {v}.
- {p} room: {v}.
- {s} moved to {v}.
- Location of {s}: {v}.
? Where is {s} held?
? Which classroom do I walk to for {s}?
? Where do I go for {s} on campus?
? What room does {s} use?

@course exam | exam date | date_future
- {p} exam is on {v}.
- Final test for {s}: {v}.
- {s} assessment on {v}.
- Revise for {s}, exam on {v}.
? When's the final test for {s}?
? When do I sit the exam for {s}?
? What's the date of the assessment in {s}, so I can revise?
? When is {p} exam?

@course textbook | textbook | title
- {s} uses {v}.
- Textbook for {s}: {v}.
- {p} required reading is {v}.
- Bring {v} to {s}.
? What book do I need for {s}?
? Which text is assigned for {s}?
? What's the textbook of {s}?
? What should I borrow from the library before {s} starts?

@course schedule | schedule | weekly_slot
- {s} runs {v}.
- {p} sessions are {v}.
- {s} is held {v}.
- Schedule for {s}: {v}.
? What day is {s} on?
? When are the lessons for {s}?
? When does {s} take place each week?
? When should I block my calendar for {s}?

@event venue | venue | venue
- {s} is at {v}.
- {p} venue is {v}.
- {s} will be held at {v}.
- Venue for {s}: {v}.
? Where is {s} happening?
? Which place is hosting {s}?
? Where do I need to go for {s}, for the satnav?
? What's the venue for {s}?

@event date | date | date_future
- {s} is on {v}.
- {p} date is {v}.
- Save the date: {s}, {v}.
- {s} takes place {v}.
? When is {s}?
? What day is {s} scheduled for?
? Which day should I keep free for {s}?
? What's the date of {s}, so I can book the time off?

@event dress | dress code | dress_code
- {p} dress code is {v}.
- {s}: {v}.
- Dress for {s}: {v}.
- Outfit for {s} should be {v}.
? What should I wear to {s}?
? How formal is {s}?
? What's the dress code for {s}?
? What clothes are expected at {s}, do I need to buy something?

@event bring | contribution | bring
- [I|The user] promised to bring {v} to {s}.
- {p} contribution: {v}.
- For {s}, [I'm|the user is] in charge of {v}.
- Bringing {v} to {s}.
? What am I contributing to {s}?
? What did I say I'd carry along to {s}?
? What do I need to take with me to {s}?
? What's my job for {s}, food-wise or otherwise?

@event start | start time | time
- {s} starts at {v}.
- Doors open at {v} for {s}.
- {p} kick-off is {v}.
- {s} begins {v} sharp.
? What time does {s} kick off?
? When should I arrive for {s}?
? What time does {s} start?
? At what hour does {s} get going?

@place address | address | address
- {s} is at {v}.
- {p} address: {v}.
- Find {s} at {v}.
- {s} moved to {v}.
? Where is {s}, roughly?
? How do I find {s} on a map?
? What's the address of {s}?
? Where should the taxi drop me for {s}?

@place closed | closing day | weekday
- {s} is closed on {v}.
- {s} shuts every {v}.
- No point going to {s} on {v}.
- Closed on {v}: {s}.
? Which day can't I go to {s}?
? When is {s} shut for the week?
? What's {p} day off?
? On which day is {s} closed?

@place wifi | wifi password | password
- {p} wifi password is {v}.
- Wifi at {s}: {v}.
- {s} network key: {v}.
- The code to get online at {s} is {v}.
? How do I get online at {s}?
? What do I type to use the internet at {s}?
? What's the wifi password at {s}?
? What's the network key for {s}, my laptop wants it?

@place dish | favourite dish | dish
- At {s} [I|the user] always [order|orders] {v}.
- Best thing at {s}: {v}.
- {p} {v} is the reason to go.
- Get {v} at {s}.
? What's good to eat at {s}?
? What should I order at {s} tonight?
? What's my usual at {s}?
? Which dish do I like at {s}?

@place phone | phone | phone
- {p} number is {v}.
- Call {s} on {v}.
- {s}: {v}.
- Book {s} by phone at {v}.
? How do I ring {s}?
? What number do I dial to reach {s} for a table?
? What's {p} phone number?
? How can I call {s} to reserve?

@purchase order | order number | order_no
- {p} order number is {v}.
- Order {v}: {s}.
- {s} was order {v}.
- Reference for {s}: {v}.
? What's the order number for {s}?
? Which reference do I quote to customer support about {s}?
? What number did the shop give me for {s}?
? What do I tell the helpline so they can find {s}?

@purchase delivery | delivery date | date_future
- {s} arrives on {v}.
- {p} delivery is {v}.
- Delivery for {s}: {v}.
- {s} should turn up {v}.
? When will {s} show up at my door?
? When is {s} being delivered?
? When should I be home to receive {s}?
? What's the delivery date for {s}?

@purchase return | return deadline | date_future
- {s} can be returned until {v}.
- Return window for {s} closes {v}.
- Send {s} back by {v} if unhappy.
- Last day to return {s}: {v}.
? Until when can I send {s} back?
? What's the deadline to return {s}?
? How long do I have to change my mind about {s}?
? When does the refund window for {s} end?

@purchase price | price paid | money_mid
- {s} cost {v}.
- Paid {v} for {s}.
- {p} price: {v}.
- {s} was {v} in the sale.
? How much did I pay for {s}?
? What did {s} cost me in the end?
? How much did {s} set me back?
? What did I spend on {s}, for my budget spreadsheet?

@appointment date | date | date_future
- {s} is on {v}.
- {p} date: {v}.
- Booked {s} for {v}.
- {s} moved to {v}.
? When do I need to show up for {s}?
? What day is {s}?
? When is {s} booked?
? Which day should I take off work for {s}?

@appointment clinic | clinic | clinic
- {s} is at {v}.
- {p} location: {v}.
- {s} takes place at {v}.
- Go to {v} for {s}.
? Where do I go for {s}?
? Which building should I head to for {s}?
? Where is {s} happening?
? What's the address I need for {s}?

@appointment prep | preparation | prep
- Before {s}: {v}.
- For {s}, remember to {v}.
- {p} instructions say to {v}.
- Note for {s}: {v}.
? What do I need to do before {s}?
? How should I get ready for {s}?
? Any instructions for {s}?
? What did they tell me to do ahead of {s}?

@appointment practitioner | practitioner | person | implies=job
- {s} is with {v}.
- Seeing {v} for {s}.
- {p} specialist: {v}.
- {v} is handling {s}.
? Who am I seeing at {s}?
? Who will do {s}?
? Which doctor is {s} with?
? Who's the specialist for {s}?
"""

# ---------------------------------------------------------------------------------------------------------------
# Subject kinds, memory styles and filler sentences
# ---------------------------------------------------------------------------------------------------------------

# kind: (weight when making a new subject, styles its memories are written in; repeats weight a style)
KINDS: dict[str, tuple[int, tuple[str, ...]]] = {
    "user": (0, ("plain", "plain", "note", "note", "terse", "chat", "chat", "diary")),
    "person": (30, ("plain", "plain", "note", "terse", "chat", "diary", "minutes")),
    "pet": (5, ("plain", "note", "terse", "chat", "diary")),
    "appliance": (4, ("plain", "note", "terse", "chat")),
    "project": (7, ("plain", "note", "terse", "chat", "minutes", "minutes", "commit")),
    "service": (8, ("plain", "note", "terse", "chat", "minutes", "commit", "commit")),
    "subscription": (5, ("plain", "note", "terse", "chat")),
    "trip": (5, ("plain", "note", "terse", "chat", "diary")),
    "vehicle": (4, ("plain", "note", "terse", "chat", "diary")),
    "course": (4, ("plain", "note", "terse", "chat", "diary")),
    "event": (5, ("plain", "note", "terse", "chat", "diary")),
    "place": (6, ("plain", "note", "terse", "chat", "diary")),
    "purchase": (5, ("plain", "note", "terse", "chat")),
    "appointment": (4, ("plain", "note", "terse", "chat", "diary")),
}
FIRST_PERSON_STYLES = ("chat", "diary", "minutes", "commit")  # written in the user's own voice

APPLIANCES = _items("dishwasher,washing machine,fridge,boiler,oven,tumble dryer,air purifier,robot vacuum,"
                    "coffee machine,heat pump,microwave,dehumidifier,water heater,cooker hood", ",")
VEHICLES = _items("Toyota Corolla,Skoda Octavia,VW Golf,Honda Jazz,Ford Transit van,Kia Niro,Renault Clio,"
                  "Tesla Model 3,Mazda CX-5,Fiat Panda,Volvo V60,Hyundai Ioniq,Yamaha motorbike,Peugeot 208", ",")
COLOURS = _words("grey white black red blue green silver yellow dark-green navy")
SUBSCRIPTIONS = _items("streaming plan,phone contract,broadband deal,gym membership,cloud storage plan,meal-kit box,"
                       "music subscription,newspaper subscription,electricity tariff,language app subscription", ",")
TRIP_PURPOSES = _items("work,weekend,family,ski,conference,hiking,wedding,surf,food,birthday,city,reunion", ",")
COURSES = _items("""Conversational Japanese|Beginner Welsh|Organic Chemistry II|Life Drawing|Intro to Statistics|
Evening Pottery|Business Spanish|Data Engineering|Jazz Piano|First Aid|Creative Writing|Linear Algebra|Portuguese A2|
Woodturning|Photography Basics|Machine Learning|Sign Language|Music Theory|Urban Sketching|Financial Accounting""")
COURSE_FORMATS = _words("course class workshop seminar module")
OCCASIONS = _items("wedding,housewarming,leaving drinks,graduation,baby shower,retirement party,engagement party", ",")
CORPORATE_EVENTS = _items("offsite,hackathon,awards dinner,product launch,all-hands,quarterly review,charity run", ",")
PLACES = _items(
    "café,bistro,ramen bar,bakery,pub,noodle house,taqueria,pizzeria,tapas bar,dumpling house,diner,tea room", ",")
PURCHASES = _items("standing desk,running shoes,headphones,winter coat,office chair,blender,tent,monitor,backpack,"
                   "coffee grinder,cordless drill,rain jacket,sofa,e-reader,air fryer", ",")
APPOINTMENT_TYPES = _items("""physio session for the sore knee|eye test for new glasses|blood test for iron levels|
MRI scan of the shoulder|dermatology check of a mole|hearing test|flu jab|cardiology follow-up|allergy test|
therapy session|nutritionist consultation|sleep clinic assessment|ultrasound scan|podiatrist visit|
vaccination for the trip|asthma review|ENT consultation|bone density scan|orthodontist consultation|
pre-op assessment""")

NEUTRAL_FILLERS = """It rained most of the afternoon.|Not urgent.|Mentioned in passing.|Worth double-checking later.|
This came up while planning the week.|Confirmed twice, so it should be right.|Low priority, but good to know.|
Long week overall.|Traffic was awful on the ring road.|Everyone seemed in a good mood.|
The power flickered twice in the evening.|Might change, will update.|Filed under admin.|
Came up in conversation over the weekend.|Someone asked about this before.|Sunny but cold today."""
FIRST_FILLERS = """I slept badly last night.|I'm tired but it was a decent day.|I really need a holiday.|
I went for a walk after lunch to clear my head.|I keep forgetting to call the bank.|I'm so behind on emails.|
Honestly I'm relieved that's sorted.|I should write more of this down.|My phone died halfway through the day.|
I feel a bit more organised now.|Stressful morning, calmer afternoon.|I need to remember this one."""
CHAT_OPENERS = "Anything else I should know?|What should I note down?|How can I help today?|Go ahead, I'm listening."
CHAT_ACKS = """Got it, I'll remember that.|Noted!|Thanks, saved to memory.|Okay, I've written that down.|Understood.|
Sure, I'll keep that in mind.|Thanks for letting me know.|Saved."""
MINUTES_FILLERS = """Attendance was thin because of the holidays.|Agreed to revisit next week.|
Nothing blocking right now.|Demo went fine.|Retro moved to Friday.|Action items to be shared in the doc.|
Budget discussion postponed."""
COMMIT_FILLERS = """Tests pass locally.|CI was flaky again; retried twice.|No schema changes.|Refs the cleanup epic.|
Reviewed by the platform team.|Follow-up PR to remove the old flag."""
FILLERS = {name: _items(text) for name, text in {
    "neutral": NEUTRAL_FILLERS, "first": FIRST_FILLERS, "opener": CHAT_OPENERS, "ack": CHAT_ACKS,
    "minutes": MINUTES_FILLERS, "commit": COMMIT_FILLERS}.items()}
# Some questions come wrapped in chat ({q}: the question lower-cased where it starts with a question word).
FRAMES = ("Quick question: {q}", "Remind me: {q}", "Sorry, I've blanked. {Q}", "Can you look something up? {Q}",
          "Hey! {Q}", "{Q} Asking because I can't recall.", "{Q} I need it right now.", "Help me out here: {q}",
          "Out of curiosity, {q}", "One more thing: {q}", "{Q} Thanks in advance.", "Silly question, but {q}",
          "Okay, so {q}", "{Q} It slipped my mind.")
FRAME_SHARE = 0.4
QUESTION_STARTS = _words("""
What What's Who Who's When When's Where Where's Which How Is Any If On Until By In At Whom
Why""")
NOTE_PREFIXES = ("", "", "Note: ", "Remember: ", "FYI: ", "Saved for later: ", "Memory: ", "To remember: ")
COMMIT_TYPES = ("fix", "feat", "chore", "ops", "docs", "build")
CHUNK_SIZES = (1, 1, 2, 2, 2, 3, 3, 4, 5)  # facts per memory
FILLER_COUNTS = (0, 0, 0, 1, 1, 2, 3)

# ---------------------------------------------------------------------------------------------------------------
# Relations, parsed from the tables above
# ---------------------------------------------------------------------------------------------------------------


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


RELATIONS: dict[str, Relation] = {r.name: r for r in _parse("\n\n".join((USER_RELATIONS, PERSON_RELATIONS,
                                                                        THING_RELATIONS)))}
BY_KIND: dict[str, list[Relation]] = {kind: [r for r in RELATIONS.values() if r.kind == kind] for kind in KINDS}

# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------------------


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
        tail = f" (updated {_date(self.rng, (2024, 2025))})" if self.rng.random() < 0.3 else ""
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
        return " ".join([header.format(d=cap(_date(self.rng, (2023, 2025)))), *body])

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
        return "\n".join([header.format(d=_date(self.rng, (2024, 2025))), *(f"- {line}" for line in lines)])

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


def abstain_items(ds: Dataset, n: int, seed: int) -> list[tuple[Subject, Relation, str, tuple[int, ...]]]:
    """-> (subject, relation no memory states for it, question, the subject's memories) `n` times."""
    if not isinstance(ds, EverydayDataset):
        raise TypeError("abstain questions need a dataset from make_everyday_dataset")
    rng = random.Random(f"abstain-{seed}")
    subjects = [s for s in ds.subjects if s.memory_of]
    out: list[tuple[Subject, Relation, str, tuple[int, ...]]] = []
    for _ in range(50 * n + 100):
        if len(out) == n or not subjects:
            break
        subject = rng.choice(subjects)
        missing = [r for r in BY_KIND[subject.kind] if r.name not in (*subject.memory_of, *subject.implied)]
        if missing:
            rel = rng.choice(missing)
            question, _ = ask(rng, rel, *question_name(rng, subject))
            out.append((subject, rel, question, tuple(sorted(set(subject.memory_of.values())))))
    return out


def abstain_questions(ds: Dataset, n: int, seed: int) -> list[tuple[str, tuple[int, ...]]]:
    """Questions about subjects in `ds` that no memory answers, each with that subject's memories (near misses)."""
    return [(question, memories) for _, _, question, memories in abstain_items(ds, n, seed)]
