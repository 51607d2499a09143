"""A separate generator of evaluation sets for agent memory retrieval (out of distribution by construction).

Why it exists: the retrievers in this repository are trained on text from other generators, so scores measured
on those generators say little about text an agent would really store. This module builds a world of its own
(its own subject kinds, relations, name lists, value pools and phrasings, written independently of any training
generator) so retrieval and answer accuracy can be measured on text no model here was fitted to.
Nothing it produces may ever be used for training or tuning (see README.md in this folder).

    python bench/ood/generator.py        # samples, counts, self-checks and timings

Every question is answered by exactly one memory; every absent question asks a relation that no memory states
for its subject (both are kept in a fact registry while generating and re-checked against the text).
"""

import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Question:
    """A question with its accepted answers (each verbatim in the gold memory) and the gold memory id."""

    question: str
    answers: tuple[str, ...]
    gold: tuple[str, ...]


@dataclass(frozen=True)
class AbsentQuestion:
    """A question whose answer is in no memory; `near` lists memories about the same subject."""

    question: str
    near: tuple[str, ...]


@dataclass(frozen=True)
class EvalSet:
    """Memories as (id, text), answerable questions and absent questions."""

    name: str
    memories: list[tuple[str, str]]
    questions: list[Question]
    absent: list[AbsentQuestion]


@dataclass(frozen=True)
class Relation:
    """One relation of a subject kind: how memories state it and how questions ask for it.

    Templates use {s} (subject) and {v} (value). A memory template starting with "~" is in the first person,
    one starting with "!" is an instruction; neither can follow "the user said that ...".
    """

    name: str
    kind: str
    value: str
    labels: tuple[str, ...]
    mem: tuple[str, ...]
    ask: tuple[str, ...]


RELATIONS: tuple[Relation, ...] = (
    # -- people ------------------------------------------------------------------------------------------------
    Relation("dentist", "person", "dental", ("dentist", "dental practice"), (
        "{s} has been a patient at {v} for years.",
        "{s}'s check-ups and fillings are done at {v}.",
        "~I booked {s} in at {v} again, same place as always.",
    ), (
        "Where does {s} go when a tooth starts hurting?",
        "Which clinic looks after {s}'s teeth?",
        "Which practice handles {s}'s oral health?",
    )),
    Relation("employer", "person", "company", ("employer", "works at"), (
        "{s} works at {v}.",
        "{s} took a job with {v} last spring.",
        "~as far as I know, {s} is on the payroll at {v}.",
    ), (
        "Which company employs {s}?",
        "Who pays {s}'s salary?",
        "Where does {s} earn a living?",
    )),
    Relation("birthday", "person", "date", ("birthday", "born"), (
        "{s}'s birthday is on {v}.",
        "{s} was born on {v}.",
        "~{s} has a birthday coming up on {v}, I need to find a present.",
    ), (
        "What day of the year was {s} born?",
        "When does {s} get a year older?",
        "On which date should I wish {s} many happy returns?",
    )),
    Relation("allergy", "person", "allergen", ("allergy", "allergic to"), (
        "{s} is allergic to {v}.",
        "{s} has a serious reaction to {v}, so keep it well away.",
        "~{s} told me {v} makes them break out in hives.",
    ), (
        "What must {s} avoid for medical reasons?",
        "Which substance makes {s} ill?",
        "What is {s} sensitive to?",
    )),
    Relation("coffee", "person", "coffee", ("coffee order", "usual drink"), (
        "{s} always drinks {v}.",
        "{s}'s go-to order at the café is {v}.",
        "~when I grab coffees, {s} wants {v}.",
    ), (
        "What beverage does {s} like when someone does a drinks run?",
        "If I'm buying hot drinks, what does {s} have?",
        "What's {s}'s usual pick from the counter?",
    )),
    # -- households (keyed by street address) -------------------------------------------------------------------
    Relation("heating", "household", "heating", ("boiler service", "heating engineer"), (
        "the boiler at {s} was serviced by {v}.",
        "{v} does the yearly boiler check at {s}.",
        "~we have a gas boiler contract with {v} for {s}.",
    ), (
        "Which company looks after the heating at {s}?",
        "Who should be phoned if the radiators at {s} go cold?",
        "Which firm maintains the hot-water system at {s}?",
    )),
    Relation("bin_day", "household", "weekday", ("bin day", "refuse collection"), (
        "the bins at {s} are emptied every {v}.",
        "refuse collection for {s} happens on {v} mornings.",
        "~I have to put the bins out at {s} for {v}.",
    ), (
        "Which day does the rubbish truck come to {s}?",
        "When is the garbage picked up from {s}?",
        "On what weekday should the waste go out by the kerb at {s}?",
    )),
    Relation("key_safe", "household", "pin", ("key safe code", "lockbox"), (
        "the key safe at {s} opens with {v}.",
        "the combination for the lockbox by the front door of {s} is {v}.",
        "~the spare key for {s} is in the key box, code {v}.",
    ), (
        "Which sequence of numbers gets the emergency house key out at {s}?",
        "What digits do I punch in to let myself into {s}?",
        "If I'm locked out of {s}, what gets me in?",
    )),
    Relation("broadband", "household", "isp", ("broadband", "ISP"), (
        "{s} gets its broadband from {v}.",
        "the internet at {s} runs through {v}.",
        "~we switched {s} over to {v} for fibre last month.",
    ), (
        "Which provider supplies the web connection at {s}?",
        "Who do I ring when the Wi-Fi is down at {s}?",
        "What company is the online service at {s} contracted with?",
    )),
    # -- rented flats --------------------------------------------------------------------------------------------
    Relation("landlord", "apartment", "person", ("landlord", "owned by"), (
        "{s} is rented from {v}.",
        "{v} owns {s} and collects the rent.",
        "~the tenancy agreement for {s} is signed with {v} as landlord.",
    ), (
        "Who lets out {s}?",
        "To whom does the tenant of {s} pay each month?",
        "Who is the property owner behind {s}?",
    )),
    Relation("rent", "apartment", "rent", ("rent", "rent pcm"), (
        "the rent at {s} is {v} a month.",
        "{s} costs {v} per month.",
        "~we pay {v} monthly for {s}.",
    ), (
        "How much does it take each month to live in {s}?",
        "What is the monthly charge for the tenancy of {s}?",
        "How expensive is {s} to lease?",
    )),
    Relation("move_in", "apartment", "date", ("moved in", "tenancy start"), (
        "the current tenants moved into {s} on {v}.",
        "keys to {s} were handed over on {v}.",
        "~I've lived at {s} since {v}.",
    ), (
        "When did the present occupants start living in {s}?",
        "From what date has {s} been occupied?",
        "When did the lease on {s} begin?",
    )),
    # -- small businesses ----------------------------------------------------------------------------------------
    Relation("opening", "business", "time_am", ("opens", "opening time"), (
        "{s} opens at {v}.",
        "the doors at {s} are unlocked at {v} on weekdays.",
        "~I checked: {s} starts serving at {v}.",
    ), (
        "How early can customers walk into {s}?",
        "What time does {s} begin trading in the morning?",
        "When is the earliest I could drop by {s}?",
    )),
    Relation("accountant", "business", "accounting", ("accountant", "bookkeeper"), (
        "{s} has its books done by {v}.",
        "the tax returns for {s} are prepared by {v}.",
        "{v} handles the accounts for {s}.",
    ), (
        "Who keeps the finances of {s} in order?",
        "Which firm files the yearly figures for {s}?",
        "Who does the number-crunching for {s}?",
    )),
    Relation("supplier", "business", "wholesale", ("supplier", "wholesale"), (
        "{s} buys most of its stock from {v}.",
        "deliveries to {s} come from {v} twice a week.",
        "{s} orders wholesale through {v}.",
    ), (
        "Where does {s} source its goods?",
        "Which distributor ships products to {s}?",
        "Who provides the inventory sold at {s}?",
    )),
    Relation("proprietor", "business", "person", ("owner", "proprietor"), (
        "{s} is run by {v}.",
        "{v} founded {s} and still manages it.",
        "{v} is the proprietor of {s}.",
    ), (
        "Who is behind {s}?",
        "Whose business is {s}?",
        "Who set up {s} in the first place?",
    )),
    # -- vehicles ------------------------------------------------------------------------------------------------
    Relation("plate", "vehicle", "plate", ("reg", "number plate"), (
        "{s} has the registration {v}.",
        "the plate on {s} reads {v}.",
        "~I registered {s} for the car park under {v}.",
    ), (
        "What licence number is displayed on {s}?",
        "What letters and digits identify {s} on the road?",
        "What should I tell the parking attendant to look up {s}?",
    )),
    Relation("garage", "vehicle", "garage", ("garage", "mechanic"), (
        "{s} goes to {v} for repairs.",
        "{v} fixed the brakes on {s} last time.",
        "{s} is serviced at {v}.",
    ), (
        "Which workshop maintains {s}?",
        "Where does {s} get taken when something breaks?",
        "Who does the mechanical work on {s}?",
    )),
    Relation("car_colour", "vehicle", "colour", ("colour", "paint"), (
        "{s} is painted {v}.",
        "{s} is the {v} one in the driveway.",
        "~look for a {v} car in the car park, that's {s}.",
    ), (
        "What colour is {s}?",
        "What shade is the bodywork of {s}?",
        "How would I spot {s} by its finish?",
    )),
    Relation("insurance", "vehicle", "date", ("insurance renewal", "policy renews"), (
        "the insurance on {s} renews on {v}.",
        "the policy for {s} runs out on {v}.",
        "~I need to sort the cover for {s} before {v}.",
    ), (
        "When does the protection for {s} expire?",
        "What's the deadline to re-insure {s}?",
        "By which date must {s} be covered again?",
    )),
    # -- software services ---------------------------------------------------------------------------------------
    Relation("port", "service", "port", ("port", "listens on"), (
        "{s} listens on port {v}.",
        "{s} is bound to {v} in production.",
        "~I've set {s} to accept connections on {v}.",
    ), (
        "Which network port should clients use to reach {s}?",
        "What socket number does {s} serve traffic on?",
        "Where do requests to {s} go, in terms of port?",
    )),
    Relation("on_call", "service", "person", ("on-call", "pager"), (
        "{v} is on call for {s} this quarter.",
        "pages about {s} go to {v}.",
        "~if {s} falls over, I'm told to ping {v}.",
    ), (
        "Who gets woken up when {s} breaks at night?",
        "Whom should I escalate an outage of {s} to?",
        "Who is responsible for {s} during incidents?",
    )),
    Relation("version", "service", "version", ("version", "release"), (
        "{s} is running {v}.",
        "~we deployed {v} of {s} yesterday.",
        "{s} was upgraded to {v}.",
    ), (
        "Which build of {s} is live in production?",
        "What release is {s} currently on?",
        "What software level has {s} been brought up to?",
    )),
    Relation("region", "service", "region", ("region", "hosted in"), (
        "{s} is hosted in {v}.",
        "{s} runs in the {v} region.",
        "~we moved {s} to {v} last month.",
    ), (
        "In which cloud zone do the servers for {s} sit?",
        "Where geographically is {s} deployed?",
        "Which data-centre location serves {s}?",
    )),
    # -- house plants --------------------------------------------------------------------------------------------
    Relation("watering", "plant", "watering", ("watering", "water"), (
        "{s} needs water {v}.",
        "~I water {s} {v}.",
        "{s} should get a drink {v}, no more.",
    ), (
        "How often should {s} be hydrated?",
        "What's the schedule for giving {s} moisture?",
        "How frequently does {s} need the can?",
    )),
    Relation("plant_feed", "plant", "plant_feed", ("feed", "fertiliser"), (
        "{s} is fed with {v}.",
        "{s} gets a dose of {v} every month in summer.",
        "~I use {v} on {s}.",
    ), (
        "Which plant food goes on {s}?",
        "What product helps {s} grow?",
        "What nutrients should I give {s}?",
    )),
    Relation("plant_spot", "plant", "spot", ("location", "placed"), (
        "{s} has been moved to {v}.",
        "{s}'s spot is {v}.",
        "~I keep {s} over by {v}.",
    ), (
        "Where in the house can I find {s}?",
        "Which part of the home does {s} stand in?",
        "Where is {s} positioned?",
    )),
    # -- trips ---------------------------------------------------------------------------------------------------
    Relation("departure", "trip", "date", ("departure", "leaving"), (
        "{s} starts on {v}.",
        "the outbound flight for {s} is on {v}.",
        "~we set off on {s} on {v}.",
    ), (
        "When does {s} begin?",
        "What day is the departure for {s}?",
        "On which date does {s} get under way?",
    )),
    Relation("hotel", "trip", "hotel", ("hotel", "accommodation"), (
        "for {s}, the rooms are at {v}.",
        "{v} is reserved for {s}.",
        "~we're staying at {v} during {s}.",
    ), (
        "Where will the travellers sleep during {s}?",
        "Which lodging was arranged for {s}?",
        "What place did they book to spend the nights on {s}?",
    )),
    Relation("booking_ref", "trip", "booking", ("booking ref", "confirmation"), (
        "the booking reference for {s} is {v}.",
        "confirmation number for {s}: {v}.",
        "!quote {v} if anything goes wrong with {s}.",
    ), (
        "What code do I give the airline to look up {s}?",
        "Which identifier is attached to the paperwork for {s}?",
        "What do I read out to the agent to pull up {s}?",
    )),
    # -- recipes -------------------------------------------------------------------------------------------------
    Relation("oven", "recipe", "oven", ("oven", "temperature"), (
        "{s} bakes at {v}.",
        "!set the oven to {v} for {s}.",
        "{s} goes in at {v}.",
    ), (
        "How hot does it need to be for {s}?",
        "What heat setting does {s} need?",
        "At what level of heat is {s} cooked?",
    )),
    Relation("secret", "recipe", "ingredient", ("secret ingredient", "key ingredient"), (
        "the trick in {s} is adding {v}.",
        "{s} only works with {v} in it.",
        "!don't forget the {v} when making {s}.",
    ), (
        "What special addition makes {s} taste right?",
        "Which component gives {s} its distinctive flavour?",
        "What's the hidden element in {s}?",
    )),
    Relation("cook_time", "recipe", "cook_time", ("cook time", "total time"), (
        "{s} takes {v} from start to finish.",
        "!allow {v} for {s}.",
        "~{s} needs {v} all in, I timed it.",
    ), (
        "How much time should I set aside to prepare {s}?",
        "What is the total cooking duration of {s}?",
        "How long is {s} in the kitchen?",
    )),
    # -- clubs ---------------------------------------------------------------------------------------------------
    Relation("club_day", "club", "weekday", ("meets", "club night"), (
        "{s} meets on {v} evenings.",
        "{s} is on every {v}.",
        "~I go along to {s} on {v}s.",
    ), (
        "Which night of the week does {s} gather?",
        "On what day are the sessions of {s}?",
        "When during the week can I catch {s} in action?",
    )),
    Relation("club_fee", "club", "fee", ("membership fee", "annual fee"), (
        "membership of {s} costs {v} a year.",
        "{s} charges {v} annually.",
        "~I paid {v} to renew my membership of {s}.",
    ), (
        "How much is it to join {s}?",
        "What's the yearly subscription for {s}?",
        "What does belonging to {s} set you back?",
    )),
    Relation("club_venue", "club", "venue", ("venue", "meets at"), (
        "{s} gathers at {v}.",
        "{s} holds its meetings in {v}.",
        "~{s} was moved to {v} this season.",
    ), (
        "Where does {s} get together?",
        "What's the location of the sessions of {s}?",
        "Where should a newcomer go to find {s}?",
    )),
    Relation("club_chair", "club", "person", ("chair", "organiser"), (
        "{v} chairs {s}.",
        "{s} is organised by {v}.",
        "{v} took over as head of {s} this year.",
    ), (
        "Who leads {s}?",
        "Who's in charge of running {s}?",
        "Who presides over {s}?",
    )),
    # -- devices -------------------------------------------------------------------------------------------------
    Relation("model", "device", "device_model", ("model", "make"), (
        "{s} is a {v}.",
        "the label on {s} says {v}.",
        "~{s} is the {v} I ordered in the sale.",
    ), (
        "What make and model is {s}?",
        "Which product line does {s} belong to?",
        "What brand of hardware is {s}?",
    )),
    Relation("serial", "device", "serial", ("serial", "S/N"), (
        "the serial number of {s} is {v}.",
        "{s} has serial {v} on the sticker underneath.",
        "~I registered {s} with the manufacturer using {v}.",
    ), (
        "What unique hardware identifier does {s} have?",
        "Which ID would the maker need to look up {s}?",
        "What's printed on the tag of {s} to tell it apart from others?",
    )),
    Relation("warranty", "device", "date", ("warranty", "guarantee until"), (
        "{s} is under warranty until {v}.",
        "the guarantee on {s} expires on {v}.",
        "~I can get {s} repaired for free until {v}.",
    ), (
        "Until when is {s} covered for repairs at no cost?",
        "When does the manufacturer's protection for {s} end?",
        "Up to what date will the maker fix {s} without charge?",
    )),
    # -- pets ----------------------------------------------------------------------------------------------------
    Relation("vet", "pet", "vet", ("vet", "registered at"), (
        "{s} is registered with {v}.",
        "{v} gave {s} its jabs in spring.",
        "~I take {s} to {v} for check-ups.",
    ), (
        "Which animal clinic looks after {s}?",
        "Where does {s} go when poorly?",
        "Who treats {s} when it's sick?",
    )),
    Relation("pet_food", "pet", "pet_food", ("food", "diet"), (
        "{s} eats {v}.",
        "{s} is on {v}, nothing else.",
        "~I buy {v} for {s}.",
    ), (
        "What should {s} be given at mealtimes?",
        "Which brand of chow does {s} get?",
        "What goes in the bowl for {s}?",
    )),
    Relation("pet_weight", "pet", "pet_weight", ("weight", "weighs"), (
        "{s} weighs {v}.",
        "{s} came in at {v} on the scales.",
        "~the vet said {s} is {v} now.",
    ), (
        "How heavy is {s}?",
        "What did {s} measure at the last check of its mass?",
        "What's the body mass of {s}?",
    )),
    # -- projects ------------------------------------------------------------------------------------------------
    Relation("deadline", "project", "date", ("deadline", "due"), (
        "{s} is due on {v}.",
        "the deadline for {s} is {v}.",
        "~we have to ship {s} by {v}.",
    ), (
        "When must {s} be finished?",
        "What's the cut-off date for {s}?",
        "By which day does {s} need to be delivered?",
    )),
    Relation("project_lead", "project", "person", ("lead", "led by"), (
        "{s} is led by {v}.",
        "{v} heads up {s}.",
        "~{v} is my manager on {s}.",
    ), (
        "Who is in charge of {s}?",
        "Who runs {s}?",
        "Whom does the team on {s} report to?",
    )),
    Relation("budget", "project", "budget", ("budget", "funding"), (
        "{s} has a budget of {v}.",
        "{v} was allocated to {s}.",
        "~finance signed off {v} for {s}.",
    ), (
        "How much money is available for {s}?",
        "What's the spending cap on {s}?",
        "How much cash did {s} receive?",
    )),
    # -- events --------------------------------------------------------------------------------------------------
    Relation("event_venue", "event", "venue", ("held at", "place"), (
        "{s} will be held at {v}.",
        "{v} is booked for {s}.",
        "~we've reserved {v} for {s}.",
    ), (
        "Where is {s} taking place?",
        "What's the location of {s}?",
        "Where should guests turn up for {s}?",
    )),
    Relation("event_time", "event", "time_pm", ("starts", "kick-off"), (
        "{s} starts at {v}.",
        "guests for {s} are expected from {v}.",
        "~I've told everyone {s} begins at {v}.",
    ), (
        "What time should people arrive for {s}?",
        "When does {s} get going?",
        "At what hour does {s} kick off?",
    )),
    Relation("caterer", "event", "caterer", ("catering", "food by"), (
        "the food for {s} is being done by {v}.",
        "{v} is catering {s}.",
        "~we hired {v} to feed everyone at {s}.",
    ), (
        "Who is supplying the meal at {s}?",
        "Which company is cooking for {s}?",
        "Who's providing the dishes at {s}?",
    )),
    Relation("event_date", "event", "date", ("date", "scheduled"), (
        "{s} is on {v}.",
        "{s} has been set for {v}.",
        "~save the date: {s} falls on {v}.",
    ), (
        "When is {s} happening?",
        "What day has been chosen for {s}?",
        "On which date will {s} take place?",
    )),
)

KINDS: tuple[str, ...] = tuple(dict.fromkeys(r.kind for r in RELATIONS))
BY_KIND: dict[str, tuple[Relation, ...]] = {k: tuple(r for r in RELATIONS if r.kind == k) for k in KINDS}

# -- names and other word lists (written for this generator) ---------------------------------------------------

FIRST_NAMES = (
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

SURNAMES = (
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

STREET_BASES = (
    "Quay Linden Marlowe Orchard Foundry Chapel Willow Canal Mill Station Harbour Beacon Juniper Ashgrove Tannery "
    "Cooper Sycamore Regent Albion Priory Copperfield Weaver Lantern Heron Bramley Cedar Elder Hawthorn Fairview "
    "Glebe Larch Maple Nettle Pelham Rowan Saffron Thistle Union Vicarage Wharf Barley Clover Ropemaker Tolliver"
).split()
STREET_SUFFIXES = ("Road", "Street", "Lane", "Avenue", "Close", "Terrace", "Way", "Crescent", "Gardens", "Row")

PLACE_WORDS = (
    "Northgate Bramble Kingfisher Harbourside Copperleaf Redwood Saltmarsh Larkspur Meadowbank Ironbridge Foxglove "
    "Westbrook Silverline Hollybush Stonegate Ashford Marigold Blackthorn Seaview Highfield Pinecrest Elmstead "
    "Brightwater Castleton Fernhill Goldcrest Hazelwood Lakeside Millbrook Oakridge Primrose Rosehill Thornbury "
    "Willowby Amberley Dunmore Greenhaven Riverside"
).split()

CITIES = (
    "Lisbon", "Porto", "Kyoto", "Oaxaca", "Marrakesh", "Reykjavik", "Tbilisi", "Hanoi", "Cape Town", "Valparaíso",
    "Ljubljana", "Kraków", "Naples", "Seville", "Bergen", "Tallinn", "Zanzibar", "Busan", "Chiang Mai", "Istanbul",
    "Montreal", "Cusco", "Dubrovnik", "Edinburgh", "Galway", "Hobart", "Jaipur", "Luang Prabang", "Mombasa",
    "Oslo", "Palermo", "Quebec City", "Rotterdam", "Salzburg", "Tromsø", "Vilnius", "Wellington", "Yogyakarta",
    "Zagreb", "Accra", "Bogotá", "Cartagena", "Penang", "Sapporo", "Muscat",
)

CARS = (
    "Skoda Octavia", "Toyota Corolla", "Volkswagen Golf", "Ford Fiesta", "Kia Niro", "Hyundai i30", "Renault Clio",
    "Peugeot 308", "Honda Jazz", "Mazda CX-5", "Volvo V60", "Tesla Model 3", "Fiat Panda", "Nissan Leaf",
    "BMW 3 Series", "Dacia Duster", "Subaru Outback", "Citroën Berlingo", "Seat Ibiza", "Audi A4", "Mini Cooper",
    "Vauxhall Corsa", "Toyota Yaris", "Kia Sportage", "Mercedes Sprinter", "Ford Transit", "Suzuki Swift",
)

PLANTS = (
    "peace lily", "monstera", "fiddle-leaf fig", "snake plant", "rubber plant", "Boston fern", "jade plant",
    "spider plant", "bird of paradise", "string of pearls", "calathea", "olive tree", "lemon tree", "bonsai juniper",
    "moth orchid", "aloe vera", "pothos", "ZZ plant", "bay tree", "rosemary bush", "Christmas cactus", "yucca",
)

DISHES = (  # all finished in an oven, so every recipe relation makes sense for every dish
    "banana bread", "moussaka", "carrot cake", "lasagne", "focaccia", "fish pie", "apple crumble", "baklava",
    "spanakopita", "empanada gallega", "lamb tagine", "oven jollof rice", "shepherd's pie", "cornbread", "kulebyaka",
    "ratatouille", "roast chicken", "sourdough loaf", "chocolate brownie", "quiche lorraine", "enchilada casserole",
    "mac and cheese", "lemon drizzle cake", "pavlova", "bibingka", "pão de queijo", "börek", "khachapuri",
    "stuffed marrow", "cinnamon babka", "gratin dauphinois", "bobotie", "custard tart", "parkin", "roast lamb", "kugel",
)

PET_NAMES = (
    "Biscuit Miso Pepper Luna Otto Mango Pixel Juniper Rolo Bramble Suki Tofu Clementine Ziggy Nori Basil Pretzel "
    "Willow Kiwi Bruno Poppy Chai Ginger Shadow Marmalade Fig Noodle Hazel Pip Cosmo Simba Mochi Olive Benny Dottie"
).split()
PET_SPECIES = (
    "beagle", "tabby cat", "border collie", "rabbit", "labrador", "dachshund", "Maine Coon", "greyhound",
    "cockatiel", "guinea pig", "whippet", "Siamese cat", "spaniel", "tortoise", "ferret", "terrier",
)

BUSINESS_TYPES = (
    "Bakery", "Bike Repairs", "Florist", "Bookshop", "Hair Studio", "Deli", "Print Shop", "Tailoring",
    "Pottery Studio", "Coffee House", "Hardware", "Barbers", "Yoga Studio", "Launderette", "Music Shop", "Framing",
    "Cheese Shop", "Locksmiths", "Toy Shop", "Tea Room",
)

CLUB_ACTIVITIES = (
    "Chess", "Running", "Book", "Cycling", "Choir", "Photography", "Swimming", "Board Game", "Gardening",
    "Astronomy", "Knitting", "Rowing", "Climbing", "Film", "Table Tennis", "Hiking", "Quiz", "Salsa",
    "Birdwatching", "Ukulele",
)

SERVICE_A = (
    "ledger atlas orchid beacon quartz harbor nimbus falcon cobalt ember pylon vector tundra meridian sable lumen "
    "cinder onyx prism argon delta kite raven comet glacier mosaic sparrow tidal zenith"
).split()
SERVICE_B = (
    "sync gateway auth search billing ingest notify scheduler api cache export reports router indexer mailer "
    "uploader worker audit feeds metrics"
).split()

DEVICE_TYPES = (
    "router", "printer", "dishwasher", "washing machine", "laptop", "NAS drive", "projector", "espresso machine",
    "security camera", "fridge-freezer", "tumble dryer", "label printer", "card reader", "dehumidifier",
)
DEVICE_BRANDS = ("Vantor", "Halcyon", "Pexa", "Quorra", "Lumio", "Brevik", "Castor", "Zenka", "Tavio", "Morrow",
                 "Kelvix", "Sundra")

PROJECT_NOUNS = (
    "Heron Basalt Lantern Kite Marigold Obsidian Pelican Quill Saffron Tamarack Umber Vireo Wren Yarrow Zircon "
    "Acorn Bluebird Cobalt Driftwood Ember Fjord Granite Harrier Indigo Jasper Larkspur Magpie Nightjar Osprey "
    "Puffin Quartz Raven Sandpiper Thistle Tundra Vesper Walrus Alder Bramble Cormorant"
).split()
PROJECT_ADJECTIVES = "Silver Blue Red Northern Quiet Early Golden Hidden Little Second Bright Iron".split()

PERSONAL_OCCASIONS = (
    "retirement dinner", "housewarming", "baby shower", "graduation party", "farewell drinks", "engagement party",
    "anniversary dinner", "leaving do", "book launch", "promotion drinks",
)
COMPANY_OCCASIONS = ("summer party", "Christmas party", "open day", "staff away day")

HOTEL_WORDS = (
    "Miramar", "Belvedere", "Sirena", "Aurora", "Bellavista", "Caravel", "Esplanade", "Majestic", "Panorama",
    "Riviera", "Solara", "Terrazza", "Vistamar", "Corvina", "Alameda", "Lindenhof", "Fjordgård", "Sakuraya",
)

VENUE_FIXED = (
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

COLOURS = (
    "red", "dark blue", "silver", "white", "black", "forest green", "burgundy", "charcoal grey", "pearl white",
    "mustard yellow", "navy", "teal", "orange", "champagne", "bronze", "sky blue", "matte black", "olive green",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
ALLERGENS = (
    "peanuts", "shellfish", "penicillin", "cat dander", "tree pollen", "sesame", "latex", "wasp stings",
    "kiwi fruit", "gluten", "dust mites", "ibuprofen", "eggs", "walnuts", "mustard seed", "soy",
)
COFFEES = (
    "oat flat white", "double espresso", "decaf cappuccino", "iced mocha", "cortado", "chai latte", "soy latte",
    "long black", "macchiato with extra foam", "hot chocolate", "mint tea", "americano with cold milk",
    "matcha latte", "turmeric latte",
)
REGIONS = (
    "eu-west-1", "eu-west-2", "eu-central-1", "us-east-1", "us-east-2", "us-west-2", "ap-southeast-1",
    "ap-northeast-1", "sa-east-1", "ca-central-1", "eu-north-1", "ap-south-1", "me-central-1", "af-south-1",
)
WATERING = (
    "every 3 days", "twice a week", "once a week", "every 10 days", "once a fortnight", "every other day",
    "every 5 days", "once a month",
)
SPOTS = (
    "the hall window", "the bathroom windowsill", "the balcony", "the bookshelf by the sofa", "the kitchen counter",
    "the upstairs landing", "the bay window", "the study desk", "the conservatory", "the shelf over the radiator",
    "the patio", "the bedroom dresser",
)
FEED_BRANDS = ("Greenvale", "Rootwise", "Leafly", "Bloomcraft", "Verdant", "Terranova", "Sproutly", "Mossgrove")
FEED_TYPES = ("liquid feed", "slow-release pellets", "orchid food", "seaweed tonic", "tomato feed", "cactus food")
PET_FOOD_BRANDS = ("Harvest Paws", "Nordic Pet", "Wildmeadow", "Purely Pet", "Tailwind", "Happy Bowl")
PET_FOOD_FLAVOURS = ("salmon", "lamb and rice", "turkey", "duck", "white fish", "chicken", "venison")
PET_FOOD_FORMS = ("kibble", "pouches", "dry food", "wet food", "biscuits")
OVEN = ("150 °C", "160 °C", "170 °C", "175 °C", "180 °C", "190 °C", "200 °C", "210 °C", "220 °C", "240 °C")
COOK_TIMES = (
    "20 minutes", "25 minutes", "35 minutes", "40 minutes", "45 minutes", "50 minutes", "90 minutes",
    "1 hour 15 minutes", "2 hours", "3 hours", "4 hours",
)
INGREDIENTS = (
    "smoked paprika", "fish sauce", "brown butter", "star anise", "white miso", "lime zest", "anchovies",
    "cardamom", "sumac", "fresh dill", "tamarind", "orange blossom water", "sherry vinegar", "black garlic",
    "za'atar", "fenugreek", "grated nutmeg", "a square of dark chocolate",
)

FILLERS = (
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
USER_LEADS = ("The user mentioned that {x}", "According to the user, {x}", "The user told me {x}",
              "User note: {X}", "The user says {x}")
USER_MORE = ("They also said {x}", "Also: {X}", "{X}", "{X}", "Plus, {x}")
SELF_LEADS = ("Note to self: {X}", "Writing this down before I forget: {X}", "I found out today that {x}",
              "Reminder: {X}", "{X}", "{X}")
ACKS = ("Got it.", "Noted, I'll remember that.", "Saved.", "Okay, stored.", "Thanks, I've made a note of it.",
        "Understood.")
CHAT_SPEAKERS = (("user", "assistant"), ("User", "Agent"), ("me", "bot"))
STYLES = ("plain", "user", "self", "terse", "chat")
STYLE_WEIGHTS = (0.28, 0.2, 0.2, 0.16, 0.16)
FACT_COUNT_WEIGHTS = (0.42, 0.3, 0.18, 0.1)  # 1, 2, 3 or 4 facts in one memory


def _cap(text: str) -> str:
    """Upper-cases the first character."""
    return text[:1].upper() + text[1:]


def _clamp(x: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, int(x)))


def _embeddable(template: str) -> bool:
    """Whether a template can follow "... that" (neither first person nor an instruction)."""
    return not template.startswith(("~", "!"))


def _fill(template: str, s: str, v: str) -> str:
    return template.lstrip("~!").replace("{s}", s).replace("{v}", v)


def _unique(make: Callable[[], str], k: int) -> list[str]:
    """Up to k distinct values of make(), in first-seen order."""
    out: dict[str, None] = {}
    for _ in range(k * 30):
        if len(out) >= k:
            break
        out[make()] = None
    return list(out)


class _Pools:
    """Name and value pools for one set, scaled so that small sets also share names, streets and values."""

    def __init__(self, rng: random.Random, n: int) -> None:
        self.rng = rng
        root = math.sqrt(max(n, 1))
        take = self._take
        self.first = take(FIRST_NAMES, _clamp(3 * root, 16, len(FIRST_NAMES)))
        self.last = take(SURNAMES, _clamp(3 * root, 16, len(SURNAMES)))
        bases = take(STREET_BASES, _clamp(root, 5, len(STREET_BASES)))
        self.street_bases = bases
        self.streets = take([f"{b} {s}" for b in bases for s in STREET_SUFFIXES], _clamp(1.5 * root, 8, 400))
        self.places = take(PLACE_WORDS, _clamp(1.5 * root, 8, len(PLACE_WORDS)))
        self.cities = take(CITIES, _clamp(1.5 * root, 8, len(CITIES)))
        m = _clamp(n / 60, 6, 80)
        self.values: dict[str, list[str]] = {t: self._trade(t, 2 * m if t == "company" else m) for t in TRADES}
        self.values["hotel"] = _unique(self._hotel, m)
        self.values["venue"] = _unique(self._venue, m)
        few = _clamp(n / 25, 5, 1000)
        for name, items in (("allergen", ALLERGENS), ("coffee", COFFEES), ("colour", COLOURS), ("region", REGIONS),
                            ("watering", WATERING), ("spot", SPOTS), ("oven", OVEN), ("cook_time", COOK_TIMES),
                            ("ingredient", INGREDIENTS), ("weekday", WEEKDAYS)):
            self.values[name] = take(items, max(few, 4))
        r = rng
        many = _clamp(n / 8, 12, 4000)
        self.values["date"] = _unique(lambda: f"{r.randint(1, 28)} {r.choice(MONTHS)}", _clamp(n / 8, 12, 336))
        self.values["pin"] = _unique(lambda: f"{r.randint(1000, 9999)}", many)
        self.values["plate"] = _unique(lambda: f"{self._letters(2)}{r.randint(10, 74)} {self._letters(3)}", many)
        self.values["booking"] = _unique(lambda: f"{self._letters(2)}-{r.randint(1000, 9999)}", many)
        self.values["serial"] = _unique(self._serial, many)
        self.values["port"] = _unique(lambda: str(r.choice((r.randint(3000, 9999), r.choice((8080, 8443, 9090))))),
                                      _clamp(n / 30, 6, 300))
        self.values["version"] = _unique(lambda: f"v{r.randint(1, 6)}.{r.randint(0, 24)}.{r.randint(0, 9)}",
                                         _clamp(n / 15, 8, 900))
        self.values["rent"] = _unique(lambda: self._price(r.randrange(650, 2900, 25)), _clamp(n / 10, 10, 1500))
        self.values["fee"] = _unique(lambda: self._price(r.randrange(15, 245, 5)), _clamp(n / 20, 8, 120))
        self.values["budget"] = _unique(lambda: self._price(r.randrange(5000, 250000, 500)), _clamp(n / 10, 10, 900))
        self.values["time_am"] = [f"{h}:{mm:02d} am" for h in range(6, 11) for mm in (0, 15, 30, 45)]
        self.values["time_pm"] = [f"{h}:{mm:02d} pm" for h in range(1, 10) for mm in (0, 15, 30, 45)]
        self.values["plant_feed"] = _unique(lambda: f"{r.choice(FEED_BRANDS)} {r.choice(FEED_TYPES)}", m)
        self.values["pet_food"] = _unique(
            lambda: f"{r.choice(PET_FOOD_BRANDS)} {r.choice(PET_FOOD_FLAVOURS)} {r.choice(PET_FOOD_FORMS)}", m)
        self.values["pet_weight"] = _unique(lambda: f"{r.randint(15, 380) / 10:.1f} kg", _clamp(n / 20, 8, 300))
        self.values["device_model"] = _unique(self._model, m)
        self.businesses = [b for t in ("dental", "heating", "garage", "vet", "caterer") for b in self.values[t]]

    def _take(self, items: Sequence[str], k: int) -> list[str]:
        return self.rng.sample(list(items), min(k, len(items)))

    def _letters(self, k: int) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(k))

    def _price(self, amount: int) -> str:
        return f"{self.rng.choice('£€$')}{amount:,}"

    def _serial(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            return f"SN{r.randint(100000, 999999)}"
        return f"{self._letters(2)}{r.randint(10, 99)}-{r.randint(10000, 99999)}"

    def _model(self) -> str:
        r = self.rng
        brand = r.choice(DEVICE_BRANDS)
        return r.choice((f"{brand} {self._letters(1)}-{r.randint(100, 990)}",
                         f"{brand} {r.choice(('Pro', 'Air', 'Max', 'Mini', 'Plus'))} {r.randint(2, 16)}",
                         f"{brand} {self._letters(2)}{r.randint(10, 99)}0"))

    def prefix(self) -> str:
        return self.rng.choice(self.last) if self.rng.random() < 0.6 else self.rng.choice(self.places)

    def _trade(self, trade: str, k: int) -> list[str]:
        r = self.rng

        def make() -> str:
            if trade == "accounting" and r.random() < 0.35:
                a, b = r.sample(self.last, 2)
                return f"{a} & {b}"
            if trade == "isp" and r.random() < 0.5:
                return f"{r.choice(self.places)}{r.choice(('', ' '))}{r.choice(TRADES[trade])}"
            return f"{self.prefix()} {r.choice(TRADES[trade])}"

        return _unique(make, k)

    def _hotel(self) -> str:
        w = self.rng.choice(HOTEL_WORDS)
        return self.rng.choice((f"Hotel {w}", f"the {w} Guesthouse", f"Casa {w}", f"{w} Lodge", f"the {w} Suites"))

    def _venue(self) -> str:
        r = self.rng
        return r.choice((
            r.choice(VENUE_FIXED),
            f"the community centre on {r.choice(self.streets)}",
            f"the scout hut on {r.choice(self.streets)}",
            f"the parish hall on {r.choice(self.streets)}",
            f"the function room at {self._hotel().removeprefix('the ')}",
            f"{r.choice(self.places)} Pavilion",
        ))

    def person(self) -> str:
        return f"{self.rng.choice(self.first)} {self.rng.choice(self.last)}"


@dataclass
class _Subject:
    key: str
    kind: str
    pending: list[Relation]
    stated: set[str] = field(default_factory=set)
    mems: list[int] = field(default_factory=list)


@dataclass
class _World:
    """An EvalSet plus what generation knew: who each memory is about and which facts it states."""

    evalset: EvalSet
    subjects: list[_Subject]
    mem_subject: list[_Subject]
    facts: dict[tuple[str, str], int]  # (subject key, relation name) -> memory index
    question_facts: list[tuple[str, Relation]]
    absent_facts: list[tuple[str, Relation]]


class _Builder:
    """Creates subjects, memories (1-4 facts each) and questions from one random stream."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = random.Random(f"ood-generator/{seed}/{n}")
        self.pools = _Pools(self.rng, n)
        self.keys: set[str] = set()
        self.addresses: set[str] = set()
        self.buildings: list[str] = []
        self.person_subjects: set[str] = set()
        self.value_people: set[str] = set()
        self.subjects: list[_Subject] = []
        self.open: list[_Subject] = []
        self.memories: list[str] = []
        self.mem_subject: list[_Subject] = []
        self.facts: dict[tuple[str, str], int] = {}
        self.by_kind: dict[str, list[_Subject]] = {k: [] for k in KINDS}
        self.values_of: list[dict[str, str]] = []  # per memory: relation name -> value

    # -- subjects ---------------------------------------------------------------------------------------------
    def _owner(self) -> str:
        """A person's name for a possessive key ("X's Skoda Octavia"); often a person already in the set."""
        people = self.by_kind["person"]
        if people and self.rng.random() < 0.4:
            return self.rng.choice(people).key
        return self.pools.person()

    def _address(self) -> str | None:
        for _ in range(40):
            a = f"{self.rng.randint(1, 240)} {self.rng.choice(self.pools.streets)}"
            if a not in self.addresses:
                self.addresses.add(a)
                return a
        return None

    def _key(self, kind: str) -> str | None:
        r, p = self.rng, self.pools
        if kind == "person":
            name = p.person()
            return None if name in self.value_people else name
        if kind == "household":
            return self._address()
        if kind == "apartment":
            building = r.choice(self.buildings) if self.buildings and r.random() < 0.45 else self._address()
            if building is None:
                return None
            if building not in self.buildings:
                self.buildings.append(building)
            return f"Flat {r.randint(1, 6)}{r.choice('ABCD')}, {building}"
        if kind == "business":
            return f"{p.prefix()} {r.choice(BUSINESS_TYPES)}"
        if kind == "vehicle":
            return f"{self._owner()}'s {r.choice(CARS)}"
        if kind == "service":
            return f"the {r.choice(SERVICE_A)}-{r.choice(SERVICE_B)} service"
        if kind == "plant":
            return f"{self._owner()}'s {r.choice(PLANTS)}"
        if kind == "trip":
            return f"{self._owner()}'s trip to {r.choice(p.cities)}"
        if kind == "recipe":
            return f"{self._owner()}'s {r.choice(DISHES)}"
        if kind == "club":
            prefix = r.choice(p.street_bases) if r.random() < 0.5 else r.choice(p.places)
            return f"the {prefix} {r.choice(CLUB_ACTIVITIES)} Club"
        if kind == "device":
            homes, shops = self.by_kind["household"], self.by_kind["business"]
            where = r.choice(homes + shops).key if (homes or shops) and r.random() < 0.7 else r.choice(p.streets)
            return f"the {r.choice(DEVICE_TYPES)} at {where}"
        if kind == "pet":
            return f"{self._owner()}'s {r.choice(PET_SPECIES)} {r.choice(PET_NAMES)}"
        if kind == "project":
            noun = r.choice(PROJECT_NOUNS)
            return f"Project {noun}" if r.random() < 0.3 else f"Project {r.choice(PROJECT_ADJECTIVES)} {noun}"
        if kind == "event":
            roll = r.random()
            if roll < 0.6:
                return f"{self._owner()}'s {r.choice(PERSONAL_OCCASIONS)}"
            if roll < 0.85 and self.by_kind["business"]:
                return f"the {r.choice(self.by_kind['business']).key} {r.choice(COMPANY_OCCASIONS)}"
            return f"the {r.choice(p.streets)} street party"
        raise ValueError(kind)

    def _new_subject(self) -> _Subject:
        for _ in range(200):
            kind = self.rng.choice(KINDS)
            for _ in range(60):
                key = self._key(kind)
                if key is not None and key.lower() not in self.keys:
                    break
            else:
                continue
            self.keys.add(key.lower())
            if kind == "person":
                self.person_subjects.add(key)
            rels = list(BY_KIND[kind])
            self.rng.shuffle(rels)
            if self.rng.random() < 0.75:
                rels.pop()  # withheld: never stated, so it can be asked as an absent question
            subject = _Subject(key, kind, rels)
            self.subjects.append(subject)
            self.by_kind[kind].append(subject)
            self.open.append(subject)
            return subject
        raise RuntimeError("ran out of distinct subject keys")

    # -- values -----------------------------------------------------------------------------------------------
    def _value(self, rel: Relation) -> str:
        if rel.value == "person":  # never a person who is also a subject, so no fact about them is implied
            for _ in range(100):
                name = self.pools.person()
                if name not in self.person_subjects:
                    self.value_people.add(name)
                    return name
            return "Dr " + self.pools.person()
        return self.rng.choice(self.pools.values[rel.value])

    @staticmethod
    def answers(rel: Relation, value: str) -> tuple[str, ...]:
        """The value plus shorter forms that a correct reply may use instead (each a substring of the value)."""
        alts = [value]
        if rel.value in ("rent", "fee", "budget"):
            alts.append(value[1:])
        elif rel.value in ("time_am", "time_pm", "oven", "pet_weight"):
            alts.append(value.split()[0])
        elif rel.value == "version":
            alts.append(value[1:])
        elif rel.value == "spot":
            alts.append(value.removeprefix("the "))
        return tuple(dict.fromkeys(alts))

    # -- memory text ------------------------------------------------------------------------------------------
    def _filler(self, text: str) -> str:
        r, p = self.rng, self.pools
        return (text.replace("{p2}", p.person()).replace("{p}", p.person()).replace("{b}", r.choice(p.businesses))
                .replace("{st}", r.choice(p.streets)).replace("{c}", r.choice(p.cities)))

    def _sentence(self, rel: Relation, key: str, value: str, embed: bool, prefer_self: bool = False) -> str:
        """One sentence stating a fact, raw (first letter as written); embed: usable after "that"."""
        options = [t for t in rel.mem if _embeddable(t)] if embed else list(rel.mem)
        if prefer_self and not embed:
            options = [t for t in rel.mem if t.startswith("~")] or options
        return _fill(self.rng.choice(options), key, value)

    @staticmethod
    def _lead(form: str, sentence: str) -> str:
        return form.replace("{x}", sentence).replace("{X}", _cap(sentence))

    def _render(self, subject: _Subject, facts: list[tuple[Relation, str]]) -> str:
        r, key = self.rng, subject.key
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
            turns = [_cap(self._sentence(rel, key, v, False)) for rel, v in facts] + [_cap(f) for f in fillers]
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
                parts.append(self._lead(form, self._sentence(rel, key, v, "{x}" in form or i > 0)))
            elif style == "self":
                form = r.choice(SELF_LEADS) if i == 0 else "{X}"
                parts.append(self._lead(form, self._sentence(rel, key, v, "{x}" in form, prefer_self=True)))
            else:
                parts.append(_cap(self._sentence(rel, key, v, False)))
        for f in fillers:
            parts.insert(r.randint(0, len(parts)) if style == "plain" else len(parts), _cap(f))
        return " ".join(parts)

    # -- the set ----------------------------------------------------------------------------------------------
    def build_memories(self) -> None:
        r = self.rng
        while len(self.memories) < self.n:
            if self.open and r.random() < 0.5:
                i = r.randrange(len(self.open))
                subject = self.open[i]
            else:
                subject = self._new_subject()
                i = len(self.open) - 1
            k = min(r.choices((1, 2, 3, 4), FACT_COUNT_WEIGHTS)[0], len(subject.pending))
            rels, subject.pending = subject.pending[:k], subject.pending[k:]
            if not subject.pending:
                self.open[i] = self.open[-1]
                self.open.pop()
            facts = [(rel, self._value(rel)) for rel in rels]
            m = len(self.memories)
            for rel, _ in facts:
                self.facts[(subject.key, rel.name)] = m
                subject.stated.add(rel.name)
            subject.mems.append(m)
            self.memories.append(self._render(subject, facts))
            self.mem_subject.append(subject)
            self.values_of.append({rel.name: v for rel, v in facts})

    def build(self, n_questions: int, n_absent: int, seed: int) -> _World:
        self.build_memories()
        ids = [f"g-{i:05d}" for i in range(len(self.memories))]
        q_rng = random.Random(f"ood-generator/{seed}/{self.n}/questions/{n_questions}/{n_absent}")
        # answerable: one fact from each of n_questions memories spread evenly over the set
        n_mem = len(self.memories)
        picks: list[tuple[int, str]] = []
        if n_questions <= n_mem:
            for j in range(n_questions):
                lo, hi = j * n_mem // n_questions, (j + 1) * n_mem // n_questions
                m = q_rng.randrange(lo, max(hi, lo + 1))
                picks.append((m, q_rng.choice(sorted(self.values_of[m]))))
        else:
            every = [(m, name) for m in range(n_mem) for name in sorted(self.values_of[m])]
            picks = sorted(q_rng.sample(every, min(n_questions, len(every))))
        by_name = {rel.name: rel for rel in RELATIONS}
        questions, question_facts = [], []
        for m, name in picks:
            rel, key = by_name[name], self.mem_subject[m].key
            text = _cap(q_rng.choice(rel.ask).replace("{s}", key))
            questions.append(Question(text, self.answers(rel, self.values_of[m][name]), (ids[m],)))
            question_facts.append((key, rel))
        # absent: a relation of the subject's kind that no memory states for it
        # (distinct subjects first; a small set may need a second relation of some subjects)
        candidates = [s for s in self.subjects if s.mems and len(s.stated) < len(BY_KIND[s.kind])]
        chosen = [(s, q_rng.choice([x for x in BY_KIND[s.kind] if x.name not in s.stated]))
                  for s in q_rng.sample(candidates, min(n_absent, len(candidates)))]
        if len(chosen) < n_absent:
            taken = {(s.key, rel.name) for s, rel in chosen}
            rest = [(s, x) for s in candidates for x in BY_KIND[s.kind]
                    if x.name not in s.stated and (s.key, x.name) not in taken]
            chosen += q_rng.sample(rest, min(n_absent - len(chosen), len(rest)))
        absent, absent_facts = [], []
        for s, rel in chosen:
            assert (s.key, rel.name) not in self.facts
            absent.append(AbsentQuestion(_cap(q_rng.choice(rel.ask).replace("{s}", s.key)),
                                         tuple(ids[m] for m in s.mems)))
            absent_facts.append((s.key, rel))
        evalset = EvalSet(f"ood-gen-{self.n}-seed{seed}", list(zip(ids, self.memories, strict=True)), questions,
                          absent)
        return _World(evalset, self.subjects, self.mem_subject, self.facts, question_facts, absent_facts)


def _world(n_memories: int, n_questions: int = 120, n_absent: int = 40, seed: int = 0) -> _World:
    return _Builder(n_memories, seed).build(n_questions, n_absent, seed)


def generate(n_memories: int, n_questions: int = 120, n_absent: int = 40, seed: int = 0) -> EvalSet:
    """A deterministic evaluation set of n_memories memories with its questions and absent questions."""
    return _world(n_memories, n_questions, n_absent, seed).evalset


# -- self-checks ---------------------------------------------------------------------------------------------


def _patterns(rel: Relation, key: str) -> list[re.Pattern[str]]:
    """Regexes matching any memory sentence of rel about exactly this subject key, with any value."""
    subject = r"(?<![\w-])" + re.escape(key) + r"(?!\w)"
    out = []
    for t in rel.mem:
        parts = re.split(r"(\{s\}|\{v\})", t.lstrip("~!").rstrip("."))
        out.append(re.compile("".join(subject if p == "{s}" else ".+?" if p == "{v}" else re.escape(p)
                                      for p in parts), re.IGNORECASE))
    return out


def check(world: _World) -> None:
    """Raises AssertionError unless questions are answerable by their gold memory only and absent ones by none."""
    es = world.evalset
    texts = [t for _, t in es.memories]
    lowered = [t.lower() for t in texts]
    index = {mid: i for i, (mid, _) in enumerate(es.memories)}
    assert len(index) == len(texts) and all(re.fullmatch(r"g-\d{5,}", mid) for mid in index)
    labels = [lab for rel in RELATIONS for lab in rel.labels]
    assert len(set(labels)) == len(labels), "terse labels must be unique"
    assert all(f"{a}:" not in f"x {b}:" for a in labels for b in labels if a != b), "a label ends another"
    for rel in RELATIONS:
        assert len(rel.mem) >= 3 and len(rel.ask) >= 3 and any(_embeddable(t) for t in rel.mem), rel.name

    def stating(key: str, rel: Relation) -> list[int]:
        pats = _patterns(rel, key)
        hits = []
        for i, low in enumerate(lowered):
            if key.lower() not in low:
                continue
            labelled = world.mem_subject[i].key == key and any(f"{lab.lower()}: " in low for lab in rel.labels)
            if labelled or any(p.search(texts[i]) for p in pats):
                hits.append(i)
        return hits

    for q, (key, rel) in zip(es.questions, world.question_facts, strict=True):
        assert len(q.gold) == 1, q
        gold = index[q.gold[0]]
        assert world.facts[(key, rel.name)] == gold
        assert key in q.question and key.lower() in lowered[gold], q
        for a in q.answers:
            assert a.lower() in lowered[gold], (q, texts[gold])
        assert stating(key, rel) == [gold], (q, stating(key, rel))
    for a, (key, rel) in zip(es.absent, world.absent_facts, strict=True):
        assert (key, rel.name) not in world.facts, a
        assert not stating(key, rel), (a, [texts[i] for i in stating(key, rel)])
        assert a.near and all(world.mem_subject[index[m]].key == key for m in a.near), a
        assert key in a.question


def main() -> None:
    """Prints samples and counts of a 1,000-memory set, checks it, and times three sizes."""
    world = _world(1000)
    es = world.evalset
    print(f"{es.name}: {len(es.memories)} memories, {len(es.questions)} questions, {len(es.absent)} absent; "
          f"{len(world.subjects)} subjects of {len(KINDS)} kinds, {len(RELATIONS)} relations, "
          f"{sum(len(r.mem) for r in RELATIONS)} memory and {sum(len(r.ask) for r in RELATIONS)} question templates, "
          f"{len(FIRST_NAMES)} first names, {len(SURNAMES)} surnames")
    print("\n-- memories")
    for mid, text in es.memories[:8]:
        print(f"{mid}: {text}")
    texts = dict(es.memories)
    print("\n-- questions")
    for q in es.questions[:6]:
        print(f"Q: {q.question}\n   answers {q.answers}; gold {q.gold[0]}: {texts[q.gold[0]]}")
    print("\n-- absent")
    for a in es.absent[:4]:
        print(f"Q: {a.question}\n   near {', '.join(a.near)}")
    check(world)
    assert generate(1000) == generate(1000), "not deterministic"
    print("\nchecks passed")
    for n in (100, 1000, 10000):
        t0 = time.perf_counter()
        w = _world(n)
        dt = time.perf_counter() - t0
        check(w)
        multi = sum(len(s.mems) > 1 for s in w.subjects)
        print(f"n={n}: generated in {dt:.2f} s; {len(w.subjects)} subjects ({multi} in 2+ memories); checks passed")


if __name__ == "__main__":
    main()
