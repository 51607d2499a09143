"""Names and word lists written for this generator alone (never shared with a training generator).

Subject keys are built from the names, places and nouns; value pools (pools.py) draw on the rest. Each
list's order matters: the pools sample from it, so reordering one changes the generated sets.
"""

FIRST_NAMES: list[str] = (
    "Amara Chidi Ngozi Tunde Folake Kwame Akosua Kofi Abena Zanele Thabo Lerato Sipho Nomvula Wanjiru Baraka "
    "Fatuma Halima Yusuf Omar Layla Karim Nadia Samir Rania Tariq Yasmin Hassan Leila Dariush Shirin Arash Mehmet "
    "Elif Emre Zeynep Deniz Aylin Priya Arjun Ananya Rohan Kavya Vikram Meera Sanjay Divya Rahul Nisha Farhan "
    "Ayesha Imran Sadia Bilal Tenzin Pema Wei Mei Jun Xiaoling Hao Yuki Haruto Sakura Kenji Aiko Ren Minjun "
    "Seoyeon Jiwoo Hyun Thao Minh Linh Quang Siti Budi Putri Rizal Maria José Lucía Mateo Valentina Diego Camila "
    "Santiago Isabela Joaquín Rafael Ximena Tomás Inés Beatriz João Marta Pedro Giulia Luca Francesca Matteo "
    "Chiara Lorenzo Sofia Élodie Antoine Camille Julien Margaux Théo Hannah Jonas Lena Felix Greta Lukas Ingrid "
    "Sven Astrid Nils Freya Mikko Aino Eero Saoirse Cian Niamh Oisín Siobhan Rhys Cerys Ewan Isla Callum "
    "Agnieszka Piotr Katarzyna Tomasz Zofia Ondřej Petra Dmitri Anya Olena Taras Irina Bogdan Ioana Andrei Eleni "
    "Nikos Dimitra Yosef Noa Avi Tamar Kai Leilani Mana Tane Aroha Ava Noah Grace Ethan Chloe Marcus Olivia "
    "Daniel Zoe Samuel Ruth Caleb Imani Jamal Keisha Malik Tiana Aaliyah Andile Esperanza Guadalupe Bongani"
).split()

SURNAMES: list[str] = (
    "Okafor Adeyemi Mensah Boateng Owusu Nkosi Dlamini Mokoena Kamau Wanjala Haile Tesfaye Diallo Traoré Keita "
    "Ndiaye Haddad Khoury Nasser Mansour Farouk Rahimi Tehrani Karimi Yilmaz Demir Kaya Şahin Öztürk Sharma Patel "
    "Iyer Reddy Nair Mehta Gupta Banerjee Chowdhury Rahman Hossain Qureshi Siddiqui Thapa Gurung Wang Chen Liu "
    "Zhang Huang Zhou Lin Tan Ng Lim Tanaka Suzuki Watanabe Yamamoto Nakamura Kobayashi Sato Kim Park Choi Jung "
    "Kang Nguyen Tran Pham Vo Santoso Wijaya Reyes Santos Cruz Bautista Garcia Fernández López Martínez Gómez "
    "Herrera Castillo Morales Vargas Rojas Mendoza Silva Oliveira Costa Pereira Almeida Ferreira Rossi Bianchi "
    "Romano Colombo Ricci Moretti Esposito Dubois Moreau Laurent Lefèvre Fontaine Girard Müller Schmidt Becker "
    "Hoffmann Hartmann Wagner Keller Brandt Janssen Peeters Lindqvist Andersson Johansson Nilsson Berg Halvorsen "
    "Larsen Nielsen Virtanen Korhonen Murphy O'Brien Gallagher Byrne MacLeod Campbell Davies Pritchard Evans "
    "Kowalski Nowak Wiśniewski Zieliński Novák Dvořák Horváth Nagy Popescu Ionescu Petrov Kovalenko Shevchenko "
    "Papadopoulos Georgiou Cohen Levi Mizrahi Friedman Kahale Ngata Parata Walker Bennett Hughes Foster Brooks "
    "Coleman Okonkwo Abubakar Bello Eze Sesay Kamara Bangura Quispe Mamani"
).split()

STREET_BASES: list[str] = (
    "Quay Linden Marlowe Orchard Foundry Chapel Willow Canal Mill Station Harbour Beacon Juniper Ashgrove Tannery "
    "Cooper Sycamore Regent Albion Priory Copperfield Weaver Lantern Heron Bramley Cedar Elder Hawthorn Fairview "
    "Glebe Larch Maple Nettle Pelham Rowan Saffron Thistle Union Vicarage Wharf Barley Clover Ropemaker Tolliver"
).split()
STREET_SUFFIXES: tuple[str, ...] = (
    "Road", "Street", "Lane", "Avenue", "Close", "Terrace", "Way", "Crescent", "Gardens", "Row",
)

PLACE_WORDS: list[str] = (
    "Northgate Bramble Kingfisher Harbourside Copperleaf Redwood Saltmarsh Larkspur Meadowbank Ironbridge Foxglove "
    "Westbrook Silverline Hollybush Stonegate Ashford Marigold Blackthorn Seaview Highfield Pinecrest Elmstead "
    "Brightwater Castleton Fernhill Goldcrest Hazelwood Lakeside Millbrook Oakridge Primrose Rosehill Thornbury "
    "Willowby Amberley Dunmore Greenhaven Riverside"
).split()

CITIES: tuple[str, ...] = (
    "Lisbon", "Porto", "Kyoto", "Oaxaca", "Marrakesh", "Reykjavik", "Tbilisi", "Hanoi", "Cape Town", "Valparaíso",
    "Ljubljana", "Kraków", "Naples", "Seville", "Bergen", "Tallinn", "Zanzibar", "Busan", "Chiang Mai", "Istanbul",
    "Montreal", "Cusco", "Dubrovnik", "Edinburgh", "Galway", "Hobart", "Jaipur", "Luang Prabang", "Mombasa",
    "Oslo", "Palermo", "Quebec City", "Rotterdam", "Salzburg", "Tromsø", "Vilnius", "Wellington", "Yogyakarta",
    "Zagreb", "Accra", "Bogotá", "Cartagena", "Penang", "Sapporo", "Muscat",
)

CARS: tuple[str, ...] = (
    "Skoda Octavia", "Toyota Corolla", "Volkswagen Golf", "Ford Fiesta", "Kia Niro", "Hyundai i30", "Renault Clio",
    "Peugeot 308", "Honda Jazz", "Mazda CX-5", "Volvo V60", "Tesla Model 3", "Fiat Panda", "Nissan Leaf",
    "BMW 3 Series", "Dacia Duster", "Subaru Outback", "Citroën Berlingo", "Seat Ibiza", "Audi A4", "Mini Cooper",
    "Vauxhall Corsa", "Toyota Yaris", "Kia Sportage", "Mercedes Sprinter", "Ford Transit", "Suzuki Swift",
)

PLANTS: tuple[str, ...] = (
    "peace lily", "monstera", "fiddle-leaf fig", "snake plant", "rubber plant", "Boston fern", "jade plant",
    "spider plant", "bird of paradise", "string of pearls", "calathea", "olive tree", "lemon tree", "bonsai juniper",
    "moth orchid", "aloe vera", "pothos", "ZZ plant", "bay tree", "rosemary bush", "Christmas cactus", "yucca",
)

DISHES: tuple[str, ...] = (  # all finished in an oven, so every recipe relation makes sense for every dish
    "banana bread", "moussaka", "carrot cake", "lasagne", "focaccia", "fish pie", "apple crumble", "baklava",
    "spanakopita", "empanada gallega", "lamb tagine", "oven jollof rice", "shepherd's pie", "cornbread", "kulebyaka",
    "ratatouille", "roast chicken", "sourdough loaf", "chocolate brownie", "quiche lorraine", "enchilada casserole",
    "mac and cheese", "lemon drizzle cake", "pavlova", "bibingka", "pão de queijo", "börek", "khachapuri",
    "stuffed marrow", "cinnamon babka", "gratin dauphinois", "bobotie", "custard tart", "parkin", "roast lamb", "kugel",
)

PET_NAMES: list[str] = (
    "Biscuit Miso Pepper Luna Otto Mango Pixel Juniper Rolo Bramble Suki Tofu Clementine Ziggy Nori Basil Pretzel "
    "Willow Kiwi Bruno Poppy Chai Ginger Shadow Marmalade Fig Noodle Hazel Pip Cosmo Simba Mochi Olive Benny Dottie"
).split()
PET_SPECIES: tuple[str, ...] = (
    "beagle", "tabby cat", "border collie", "rabbit", "labrador", "dachshund", "Maine Coon", "greyhound",
    "cockatiel", "guinea pig", "whippet", "Siamese cat", "spaniel", "tortoise", "ferret", "terrier",
)

BUSINESS_TYPES: tuple[str, ...] = (
    "Bakery", "Bike Repairs", "Florist", "Bookshop", "Hair Studio", "Deli", "Print Shop", "Tailoring",
    "Pottery Studio", "Coffee House", "Hardware", "Barbers", "Yoga Studio", "Launderette", "Music Shop", "Framing",
    "Cheese Shop", "Locksmiths", "Toy Shop", "Tea Room",
)

CLUB_ACTIVITIES: tuple[str, ...] = (
    "Chess", "Running", "Book", "Cycling", "Choir", "Photography", "Swimming", "Board Game", "Gardening",
    "Astronomy", "Knitting", "Rowing", "Climbing", "Film", "Table Tennis", "Hiking", "Quiz", "Salsa",
    "Birdwatching", "Ukulele",
)

SERVICE_A: list[str] = (
    "ledger atlas orchid beacon quartz harbor nimbus falcon cobalt ember pylon vector tundra meridian sable lumen "
    "cinder onyx prism argon delta kite raven comet glacier mosaic sparrow tidal zenith"
).split()
SERVICE_B: list[str] = (
    "sync gateway auth search billing ingest notify scheduler api cache export reports router indexer mailer "
    "uploader worker audit feeds metrics"
).split()

DEVICE_TYPES: tuple[str, ...] = (
    "router", "printer", "dishwasher", "washing machine", "laptop", "NAS drive", "projector", "espresso machine",
    "security camera", "fridge-freezer", "tumble dryer", "label printer", "card reader", "dehumidifier",
)
DEVICE_BRANDS: tuple[str, ...] = (
    "Vantor", "Halcyon", "Pexa", "Quorra", "Lumio", "Brevik", "Castor", "Zenka", "Tavio", "Morrow", "Kelvix", "Sundra",
)

PROJECT_NOUNS: list[str] = (
    "Heron Basalt Lantern Kite Marigold Obsidian Pelican Quill Saffron Tamarack Umber Vireo Wren Yarrow Zircon "
    "Acorn Bluebird Cobalt Driftwood Ember Fjord Granite Harrier Indigo Jasper Larkspur Magpie Nightjar Osprey "
    "Puffin Quartz Raven Sandpiper Thistle Tundra Vesper Walrus Alder Bramble Cormorant"
).split()
PROJECT_ADJECTIVES: list[str] = "Silver Blue Red Northern Quiet Early Golden Hidden Little Second Bright Iron".split()

PERSONAL_OCCASIONS: tuple[str, ...] = (
    "retirement dinner", "housewarming", "baby shower", "graduation party", "farewell drinks", "engagement party",
    "anniversary dinner", "leaving do", "book launch", "promotion drinks",
)
COMPANY_OCCASIONS: tuple[str, ...] = ("summer party", "Christmas party", "open day", "staff away day")

HOTEL_WORDS: tuple[str, ...] = (
    "Miramar", "Belvedere", "Sirena", "Aurora", "Bellavista", "Caravel", "Esplanade", "Majestic", "Panorama",
    "Riviera", "Solara", "Terrazza", "Vistamar", "Corvina", "Alameda", "Lindenhof", "Fjordgård", "Sakuraya",
)

VENUE_FIXED: tuple[str, ...] = (
    "the back room of The Anchor", "St Brigid's Hall", "Rosehill Pavilion", "the Old Fire Station",
    "the upstairs room at the Red Lion", "the Quaker meeting house", "the boathouse", "the Corn Exchange",
    "the Masonic hall", "the cricket pavilion", "the village hall", "the Orangery",
)

TRADES: dict[str, tuple[str, ...]] = {
    "dental": ("Dental Care", "Dental Practice", "Smile Clinic", "Family Dentistry", "Dental Studio"),
    "heating": ("Heating", "Boiler Care", "Gas & Heating", "Heating Services", "Plumbing and Heating"),
    "company": ("Logistics", "Analytics", "Insurance", "Architects", "Foods", "Media", "Engineering", "Biotech",
                "Consulting", "Robotics", "Software", "Freight", "Energy", "Design", "Pharmaceuticals", "Systems"),
    "isp": ("Fibre", "Broadband", "Telecom", "Connect", "Net"),
    "accounting": ("Accountants", "Bookkeeping", "Tax Advisers", "Chartered Accountants"),
    "wholesale": ("Wholesale", "Trade Supplies", "Cash & Carry", "Distributors", "Food Service"),
    "garage": ("Motors", "Garage", "Auto Repairs", "Tyre & Exhaust", "Car Care"),
    "vet": ("Veterinary Clinic", "Vets", "Animal Hospital", "Pet Surgery"),
    "caterer": ("Catering", "Kitchen", "Feasts", "Event Catering", "Supper Club"),
}

COLOURS: tuple[str, ...] = (
    "red", "dark blue", "silver", "white", "black", "forest green", "burgundy", "charcoal grey", "pearl white",
    "mustard yellow", "navy", "teal", "orange", "champagne", "bronze", "sky blue", "matte black", "olive green",
)
WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS: tuple[str, ...] = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
)
ALLERGENS: tuple[str, ...] = (
    "peanuts", "shellfish", "penicillin", "cat dander", "tree pollen", "sesame", "latex", "wasp stings",
    "kiwi fruit", "gluten", "dust mites", "ibuprofen", "eggs", "walnuts", "mustard seed", "soy",
)
COFFEES: tuple[str, ...] = (
    "oat flat white", "double espresso", "decaf cappuccino", "iced mocha", "cortado", "chai latte", "soy latte",
    "long black", "macchiato with extra foam", "hot chocolate", "mint tea", "americano with cold milk",
    "matcha latte", "turmeric latte",
)
REGIONS: tuple[str, ...] = (
    "eu-west-1", "eu-west-2", "eu-central-1", "us-east-1", "us-east-2", "us-west-2", "ap-southeast-1",
    "ap-northeast-1", "sa-east-1", "ca-central-1", "eu-north-1", "ap-south-1", "me-central-1", "af-south-1",
)
WATERING: tuple[str, ...] = (
    "every 3 days", "twice a week", "once a week", "every 10 days", "once a fortnight", "every other day",
    "every 5 days", "once a month",
)
SPOTS: tuple[str, ...] = (
    "the hall window", "the bathroom windowsill", "the balcony", "the bookshelf by the sofa", "the kitchen counter",
    "the upstairs landing", "the bay window", "the study desk", "the conservatory", "the shelf over the radiator",
    "the patio", "the bedroom dresser",
)
FEED_BRANDS: tuple[str, ...] = (
    "Greenvale", "Rootwise", "Leafly", "Bloomcraft", "Verdant", "Terranova", "Sproutly", "Mossgrove",
)
FEED_TYPES: tuple[str, ...] = (
    "liquid feed", "slow-release pellets", "orchid food", "seaweed tonic", "tomato feed", "cactus food",
)
PET_FOOD_BRANDS: tuple[str, ...] = ("Harvest Paws", "Nordic Pet", "Wildmeadow", "Purely Pet", "Tailwind", "Happy Bowl")
PET_FOOD_FLAVOURS: tuple[str, ...] = ("salmon", "lamb and rice", "turkey", "duck", "white fish", "chicken", "venison")
PET_FOOD_FORMS: tuple[str, ...] = ("kibble", "pouches", "dry food", "wet food", "biscuits")
OVEN: tuple[str, ...] = (
    "150 °C", "160 °C", "170 °C", "175 °C", "180 °C", "190 °C", "200 °C", "210 °C", "220 °C", "240 °C",
)
COOK_TIMES: tuple[str, ...] = (
    "20 minutes", "25 minutes", "35 minutes", "40 minutes", "45 minutes", "50 minutes", "90 minutes",
    "1 hour 15 minutes", "2 hours", "3 hours", "4 hours",
)
INGREDIENTS: tuple[str, ...] = (
    "smoked paprika", "fish sauce", "brown butter", "star anise", "white miso", "lime zest", "anchovies",
    "cardamom", "sumac", "fresh dill", "tamarind", "orange blossom water", "sherry vinegar", "black garlic",
    "za'atar", "fenugreek", "grated nutmeg", "a square of dark chocolate",
)
