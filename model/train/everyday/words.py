"""Names, words and value pools of everyday memories, and `expand` for value patterns."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msa.model.train.everyday.subjects import Subject

def word_list(text: str) -> list[str]:
    """A table written as whitespace-separated words ("_" stands for a space inside one)."""
    return [word.replace("_", " ") for word in text.split()]


def item_list(text: str, sep: str = "|") -> list[str]:
    """A table written as `a|b|c` over several lines -> ["a", "b", "c"]."""
    return [item.strip() for item in text.replace("\n", "").split(sep)]


FIRST_NAMES = word_list("""
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

SURNAMES = word_list("""
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

PET_NAMES = word_list("""
Mochi Biscuit Pepper Luna Ziggy Nala Bruno Pickle Waffles Juniper Olive Maple Toffee Noodle Pancake Ginger
Bramble Clementine Dumpling Frodo Gizmo Hazel Jellybean Kiwi Lentil Marmalade Nutmeg Oreo Paprika Pudding Quinoa
Rocket Sesame Tofu Umbra Velvet Wasabi Yoshi Zucchini Basil Chai Domino Espresso Figaro Goose Halloumi Indie
Jasper Kobe Loki Miso Nacho Ozzy Pesto Ruby Sprout Truffle Udon Vinnie Whiskey Yuzu Ziti Bean Cocoa Dottie
""")

CITIES = item_list("""
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
ADJECTIVES = word_list("""
Silver Northern Quiet Bright Amber Copper Hidden Golden Misty Crimson Little Velvet Iron Wild Salt
Blue Green Old Lucky Hollow Sunny Frosted Patient Restless Gentle Humble Distant Paper Painted Wandering Lost
Honest Rusty Secret Sleeping Early Crooked""")
NOUNS = word_list("""
Falcon Lighthouse Kestrel Juniper Atlas Beacon Compass Harbor Lantern Meridian Orchard Pebble Quarry
Saffron Tundra Willow Anvil Bramble Cinder Ember Fjord Glacier Heron Ibis Jasper Kiln Lagoon Mosaic Nimbus Otter
Prism Quill Rook Summit Thistle Walnut Yarrow Zephyr Basalt Cobalt Driftwood Fennel Granite Magpie Nettle Kettle
Acorn Badger Canyon Dune Fox Garnet Hearth Inlet Lark Marble Needle Oriole Pine Raven Sparrow Tide""")
BRAND_HEADS = word_list("North Blue Bright Silver Oak Harbor Summit Cedar Iron Clear Red Maple Pine Stone River Sun")
BRAND_TAILS = word_list("wind field gate wave line works leaf bridge point light path forge spring crest brook vale "
                        "mark")
COMPANY_KINDS = item_list("""Analytics|Logistics|Health|Labs|Systems|Foods|Partners|Media|Robotics|Energy|Insurance|
Bank|Studio|Group|Consulting|Mutual|Freight|Pharma""")
BRANDS = word_list("""
Velora Kestro Nuvia Tallis Olvane Quorra Zentro Mirabel Castellan Fernway Hollin Lumio Praxa Sorrel Tovin
Varka Wendle Yarno Zelio Arvo Belmar Corvin Dalvi Elkin Frama Gavra Halden Istra Kora Lunet Mavis Nordek Ostra
Pelli Rhoda Sanvi Tresk Ulla Vento""")
STREET_WORDS = word_list("""
Elm Birch Chestnut Mill Station Church Harbour Canal Orchard Kings Rosemary Clover Ash Beech Market
Bridge Park Meadow Hill Castle Abbey Victoria Albion Cherry Linden Poplar Foundry Tannery Quay Ropewalk""")
STREET_TYPES = word_list("Street Road Lane Avenue Way Close Terrace Place Crescent Row")
SERVICE_HEADS = word_list("""
ledger billing auth search notify inventory checkout profile media report ingest catalog payments
scheduler export audit metrics feed chat pricing invoice session upload geo""")
SERVICE_TAILS = word_list("api worker gateway sync daemon proxy svc cron web")

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
    "dog": item_list("beagle, border collie, dachshund, labrador, whippet, shiba inu, corgi, greyhound,"
                     "poodle mix", ","),
    "cat": item_list("Maine Coon, Siamese, British Shorthair, ragdoll, Bengal, tabby, Norwegian Forest cat", ","),
    "rabbit": item_list("lop, Netherland dwarf, Rex, Lionhead", ","),
}

MONTHS = word_list("January February March April May June July August September October November December")
WORDS: dict[str, list[str]] = {
    "noun": NOUNS, "adj": ADJECTIVES, "street": STREET_WORDS, "street_type": STREET_TYPES, "brand": BRANDS,
    "company_kind": COMPANY_KINDS, "service_tail": SERVICE_TAILS, "first": FIRST_NAMES,
    "weekday": list(POOLS["weekday"]),
    "domain": word_list("gmail.com outlook.com proton.me fastmail.com yahoo.co.uk icloud.com hey.com posteo.de"),
    "airline": word_list("LX BA KL AF LH TP IB EK QR SQ NH TK ET KQ AC DL UA VS EI SK AY JL"),
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


def date_text(rng: random.Random, years: tuple[int, int], with_year: bool = True) -> str:
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
    "date_future": lambda r: date_text(r, (2025, 2027)),
    "date_past": lambda r: date_text(r, (2015, 2024)),
    "birthday": lambda r: date_text(r, (1950, 2006), with_year=r.random() < 0.3),
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


# Values of things' descriptions
APPLIANCES = item_list("dishwasher,washing machine,fridge,boiler,oven,tumble dryer,air purifier,robot vacuum,"
                    "coffee machine,heat pump,microwave,dehumidifier,water heater,cooker hood", ",")
VEHICLES = item_list("Toyota Corolla,Skoda Octavia,VW Golf,Honda Jazz,Ford Transit van,Kia Niro,Renault Clio,"
                  "Tesla Model 3,Mazda CX-5,Fiat Panda,Volvo V60,Hyundai Ioniq,Yamaha motorbike,Peugeot 208", ",")
COLOURS = word_list("grey white black red blue green silver yellow dark-green navy")
SUBSCRIPTIONS = item_list("streaming plan,phone contract,broadband deal,gym membership,cloud storage plan,meal-kit box,"
                       "music subscription,newspaper subscription,electricity tariff,language app subscription", ",")
TRIP_PURPOSES = item_list("work,weekend,family,ski,conference,hiking,wedding,surf,food,birthday,city,reunion", ",")
COURSES = item_list("""Conversational Japanese|Beginner Welsh|Organic Chemistry II|Life Drawing|Intro to Statistics|
Evening Pottery|Business Spanish|Data Engineering|Jazz Piano|First Aid|Creative Writing|Linear Algebra|Portuguese A2|
Woodturning|Photography Basics|Machine Learning|Sign Language|Music Theory|Urban Sketching|Financial Accounting""")
COURSE_FORMATS = word_list("course class workshop seminar module")
OCCASIONS = item_list("wedding,housewarming,leaving drinks,graduation,baby shower,retirement party,"
                      "engagement party", ",")
CORPORATE_EVENTS = item_list("offsite,hackathon,awards dinner,product launch,all-hands,quarterly review,"
                             "charity run", ",")
PLACES = item_list(
    "café,bistro,ramen bar,bakery,pub,noodle house,taqueria,pizzeria,tapas bar,dumpling house,diner,tea room", ",")
PURCHASES = item_list("standing desk,running shoes,headphones,winter coat,office chair,blender,tent,monitor,backpack,"
                   "coffee grinder,cordless drill,rain jacket,sofa,e-reader,air fryer", ",")
APPOINTMENT_TYPES = item_list("""physio session for the sore knee|eye test for new glasses|blood test for iron levels|
MRI scan of the shoulder|dermatology check of a mole|hearing test|flu jab|cardiology follow-up|allergy test|
therapy session|nutritionist consultation|sleep clinic assessment|ultrasound scan|podiatrist visit|
vaccination for the trip|asthma review|ENT consultation|bone density scan|orthodontist consultation|
pre-op assessment""")
