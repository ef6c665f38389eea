"""Seeded generator of the synthetic leads appended to ``leads.jsonl`` (run by hand, never at import).

    python -m promptevolve.examples.lead_enrichment.generate            # rewrite the synthetic lines
    python -m promptevolve.examples.lead_enrichment.generate --check    # exit 1 if the file differs

Why: the 176 hand-written leads give a test split too small to show a 5-point gain (DATASET.md,
*Size of the test split*). The synthetic leads grow each locale to ``PER_LOCALE`` leads.

How: every description is assembled from ``phrases.py``, one phrase per fact, and the gold labels are
read from the phrases chosen, never guessed: the industry from the activity, the size band from the
stated headcount, the growth signals from the event clauses, the AI maturity from the practice
sentence. Labels are balanced by construction (industries and size bands cycle, maturity levels cycle
under two plausibility rules: a data team needs at least 51 people, AI-native businesses only in
sectors where the bank's wording fits). The hand-written lines are kept byte for byte and first; the
synthetic lines follow, ids ``en-s001`` … and ``fr-s001`` …, each marked ``"origin": "synthetic"``.
``random.Random(SEED)`` drives every choice, so the output is the same on every run.
"""

from __future__ import annotations

import json
import random
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from promptevolve.examples.lead_enrichment.phrases import (
    ABROAD,
    ACTIVITIES,
    ADOPTION,
    COUNTRIES,
    ESTABLISHED,
    EVENTS,
    Activity,
    Country,
)
from promptevolve.examples.lead_enrichment.taxonomy import GROWTH_SIGNALS, SIZE_BANDS

__all__ = ["PER_LOCALE", "SEED", "band_of", "generate", "synthetic_leads"]

SEED = 11
PER_LOCALE = 500  # hand-written + synthetic leads per locale
#: Headcounts drawn inside each band, clear of its bounds (no lead sits on a band boundary).
HEADCOUNTS: dict[str, tuple[int, int]] = {
    "1-10": (3, 8),
    "11-50": (13, 48),
    "51-200": (55, 195),
    "201-1000": (210, 980),
    "1001-5000": (1020, 4900),
    "5000+": (5200, 60000),
}
#: Sectors whose activity phrases read naturally with an AI-native (level 5) sentence.
AI_NATIVE_SECTORS = frozenset(
    {
        "software",
        "fintech",
        "healthcare",
        "biotech_pharma",
        "ecommerce_retail",
        "logistics",
        "education",
        "media_entertainment",
        "marketing_advertising",
        "real_estate",
        "professional_services",
        "cybersecurity",
    }
)
SIGNAL_COUNTS = ((0, 14), (1, 50), (2, 30), (3, 6))  # how many signals a lead states, weighted
DISTRACTOR_RATE = 0.05  # a customer count beside the headcount (a hard cue)

_NAME_PARTS = {
    "en": (
        ("Ash", "Birch", "Copper", "Elm", "Fern", "Glen", "Hazel", "High", "Iron", "Kings"),
        ("Lark", "Marsh", "North", "Oak", "Red", "Silver", "Stone", "West", "Wild", "Wren"),
        ("brook", "field", "ford", "gate", "hill", "leigh", "mere", "moor", "ridge", "stead"),
        ("ton", "vale", "well", "wick", "wood"),
        ("Group", "Partners", "Holdings", "Works", "Company", "Ventures", "Limited", "Collective"),
    ),
    "fr": (
        ("Bel", "Beau", "Clair", "Grand", "Haut", "Mont", "Roche", "Val", "Pierre", "Font"),
        ("Bois", "Mar", "Chante", "Fleur", "Sau"),
        ("val", "mont", "rive", "lac", "bois", "fontaine", "ville", "castel", "pré", "brune"),
        ("lieu", "mare", "sable", "roche", "font"),
        ("SA", "SAS", "Frères", "Industries", "Services", "Solutions", "Partenaires", "Compagnie"),
    ),
}
_SIZE_SENTENCES = {
    "en": (
        "The company is based in {city} and employs {n} people{extra}.",
        "Its head office is in {city}, with a staff of {n}{extra}.",
    ),
    "fr": (
        "Le siège de l'entreprise est à {city} et elle emploie {n} personnes{extra}.",
        "La société est installée à {city} et compte {n} salariés{extra}.",
    ),
}
_DISTRACTOR = {"en": " and serves {m} customers", "fr": " et sert {m} clients"}
_SUBJECT = {"en": "It", "fr": "Elle"}
_AND = {"en": "and", "fr": "et"}


@dataclass(frozen=True, slots=True)
class _Plan:
    activity: Activity
    band: str
    maturity: int
    signals: tuple[str, ...]


def band_of(headcount: int) -> str:
    """The size band of a headcount (bands inclusive at both ends, as in ``taxonomy.SIZE_BANDS``)."""
    for band in SIZE_BANDS:
        low, _, high = band.replace("+", "-").partition("-")
        if headcount >= int(low) and (not high or headcount <= int(high)):
            return band
    raise ValueError(f"no band for {headcount}")


def _number(n: int, locale: str) -> str:
    return f"{n:,}" if locale == "en" else f"{n:,}".replace(",", " ")


def _amount(rng: random.Random, locale: str, country: Country) -> str:
    millions = rng.choice((1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25))
    if locale == "en":
        symbol = {"United Kingdom": "£", "Ireland": "€"}.get(country.name, "$")
        return f"{symbol}{millions}M"
    currency = "d'euros" if country.name in ("France", "Belgique") else "de dollars"
    return f"{millions} millions {currency}"


def _plans(rng: random.Random, locale: str, count: int) -> list[_Plan]:
    by_industry: dict[str, list[Activity]] = {}
    for activity in ACTIVITIES[locale]:
        by_industry.setdefault(activity.industry, []).append(activity)
    industries = sorted(by_industry)
    plans = []
    for i in range(count):
        options = by_industry[industries[i % len(industries)]]
        activity = rng.choices(options, weights=[1 if a.hard else 2 for a in options])[0]
        band = SIZE_BANDS[(i // len(industries) + i) % len(SIZE_BANDS)]
        maturity = (i % 5) + 1
        if maturity == 4 and SIZE_BANDS.index(band) < 2:
            maturity = 3
        if maturity == 5 and activity.industry not in AI_NATIVE_SECTORS:
            maturity = 2
        n_signals = rng.choices([n for n, _ in SIGNAL_COUNTS], weights=[w for _, w in SIGNAL_COUNTS])[0]
        allowed = [s for s in GROWTH_SIGNALS if s != "ai_adoption" or 2 <= maturity <= 4]
        signals = tuple(sorted(rng.sample(allowed, n_signals), key=GROWTH_SIGNALS.index))
        plans.append(_Plan(activity, band, maturity, signals))
    return plans


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum())


def _names(rng: random.Random, locale: str, taken: set[str]) -> list[str]:
    first_a, first_b, second_a, second_b, kinds = _NAME_PARTS[locale]
    stems = [a + b for a in (*first_a, *first_b) for b in (*second_a, *second_b)]
    names = [f"{stem} {kind}" for stem in stems for kind in kinds]
    rng.shuffle(names)
    return [n for n in names if n.casefold() not in taken and _slug(n) not in taken]


def _lead(rng: random.Random, locale: str, number: int, plan: _Plan, name: str) -> dict[str, Any]:
    country = rng.choice(COUNTRIES[locale])
    city = rng.choice(country.cities)
    low, high = HEADCOUNTS[plan.band]
    headcount = rng.randint(low, high)
    hard = plan.activity.hard
    extra = ""
    if rng.random() < DISTRACTOR_RATE:
        hard = True
        extra = _DISTRACTOR[locale].format(m=_number(rng.randint(2, 90) * 1000, locale))
    size = rng.choice(_SIZE_SENTENCES[locale]).format(city=city, n=_number(headcount, locale), extra=extra)
    clauses: list[str] = []
    evidence: list[str] = []
    for signal in plan.signals:
        if signal == "ai_adoption":
            continue
        other_cities = [c for c in country.cities if c != city]
        abroad = rng.choice(ABROAD)[0 if locale == "en" else 1]
        template = rng.choice(EVENTS[locale][signal])
        clause = template.format(
            k=rng.randint(3, 40),
            amount=_amount(rng, locale, country),
            city=rng.choice(other_cities),
            abroad=abroad,
        )
        clauses.append(clause)
        evidence.append(f"'{clause}' -> {signal}")
    sentences = [f"{name} {plan.activity.text}.", size]
    if clauses:
        joined = (
            clauses[0] if len(clauses) == 1 else f"{', '.join(clauses[:-1])} {_AND[locale]} {clauses[-1]}"
        )
        sentences.append(f"{_SUBJECT[locale]} {joined}.")
    if "ai_adoption" in plan.signals:
        practice = rng.choice(ADOPTION[locale][plan.maturity])
        evidence.append("the AI step of the last sentence -> ai_adoption")
    elif plan.maturity == 1 and rng.random() < 0.5:
        practice = ""
    else:
        practice = rng.choice(ESTABLISHED[locale][plan.maturity])
    if practice:
        sentences.append(practice)
    website = f"https://{_slug(name)}.{country.tld}"
    rationale = (
        "; ".join(
            [
                f"'{plan.activity.text}' -> {plan.activity.industry}",
                f"headcount {headcount} -> {plan.band}",
                *(evidence or ["no event -> no signal"]),
                f"{practice[:-1] if practice else 'no mention of data or AI'} -> maturity {plan.maturity}",
            ]
        )
        + "."
    )
    return {
        "id": f"{locale}-s{number:03d}",
        "locale": locale,
        "inputs": {
            "company_name": name,
            "website": website,
            "description": " ".join(sentences),
            "country": country.name,
        },
        "expected": {
            "industry": plan.activity.industry,
            "size_band": plan.band,
            "growth_signals": list(plan.signals),
            "ai_maturity": plan.maturity,
        },
        "rationale": rationale,
        "difficulty": "hard" if hard else "normal",
        "origin": "synthetic",
    }


def synthetic_leads(hand_written: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The synthetic leads that top each locale up to ``PER_LOCALE``, avoiding the given leads' names."""
    rng = random.Random(SEED)
    taken = {lead["inputs"]["company_name"].casefold() for lead in hand_written}
    taken |= {_slug(lead["inputs"]["company_name"]) for lead in hand_written}
    leads = []
    for locale in ("en", "fr"):
        count = PER_LOCALE - sum(1 for lead in hand_written if lead["locale"] == locale)
        names = _names(rng, locale, taken)
        for number, plan in enumerate(_plans(rng, locale, count), start=1):
            leads.append(_lead(rng, locale, number, plan, names[number - 1]))
    return leads


def generate(text: str) -> str:
    """The whole file: the hand-written lines of ``text`` unchanged, then the synthetic leads."""
    hand = [line for line in text.splitlines() if line.strip() and '"origin": "synthetic"' not in line]
    leads = synthetic_leads([json.loads(line) for line in hand])
    return "\n".join([*hand, *(json.dumps(lead, ensure_ascii=False) for lead in leads)]) + "\n"


def main(argv: Sequence[str]) -> int:
    path = Path(str(files("promptevolve.examples.lead_enrichment") / "leads.jsonl"))
    current = path.read_text(encoding="utf-8")
    fresh = generate(current)
    if argv == ["--check"]:
        return 0 if fresh == current else 1
    path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
