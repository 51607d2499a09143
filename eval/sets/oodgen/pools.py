"""The names and values one set draws from, sized to the set so that small sets also share names and values.

Every draw comes from the set's single random stream, in a fixed order: moving a line here changes the sets.
"""

import math
import random
from collections.abc import Callable, Sequence

from .vocabulary import (
    ALLERGENS,
    CITIES,
    COFFEES,
    COLOURS,
    COOK_TIMES,
    DEVICE_BRANDS,
    FEED_BRANDS,
    FEED_TYPES,
    FIRST_NAMES,
    HOTEL_WORDS,
    INGREDIENTS,
    MONTHS,
    OVEN,
    PET_FOOD_BRANDS,
    PET_FOOD_FLAVOURS,
    PET_FOOD_FORMS,
    PLACE_WORDS,
    REGIONS,
    SPOTS,
    STREET_BASES,
    STREET_SUFFIXES,
    SURNAMES,
    TRADES,
    VENUE_FIXED,
    WATERING,
    WEEKDAYS,
)


def _clamp(x: float, lo: int, hi: int) -> int:
    """int(x), kept within lo..hi."""
    return max(lo, min(hi, int(x)))


def _unique(make: Callable[[], str], k: int) -> list[str]:
    """Up to k distinct values of make(), in first-seen order."""
    out: dict[str, None] = {}
    for _ in range(k * 30):
        if len(out) >= k:
            break
        out[make()] = None
    return list(out)


class Pools:
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
        """A surname or place word to start a business-like name ("Okafor Dental Care")."""
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
        """A full name (first name and surname) from this set's pools."""
        return f"{self.rng.choice(self.first)} {self.rng.choice(self.last)}"
