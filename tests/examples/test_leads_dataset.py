"""The bundled lead-enrichment dataset is valid, labelled from the taxonomy, and covers it.

The file is loaded the way users load it (``importlib.resources``), so the test also proves it ships
inside the installed package.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from importlib.resources import files
from typing import Any

import pytest

from promptevolve.evolution.datasets import DEFAULT_FRACTIONS, split_keys
from promptevolve.examples.lead_enrichment.generate import PER_LOCALE, band_of, generate
from promptevolve.examples.lead_enrichment.phrases import ACTIVITIES
from promptevolve.examples.lead_enrichment.taxonomy import (
    AI_MATURITY_LEVELS,
    GROWTH_SIGNALS,
    INDUSTRIES,
    SIZE_BANDS,
)

LOCALES = ("en", "fr")
TOP_KEYS = {"id", "locale", "inputs", "expected", "rationale", "difficulty"}
INPUT_KEYS = {"company_name", "website", "description", "country"}
EXPECTED_KEYS = {"industry", "size_band", "growth_signals", "ai_maturity"}
ID_PATTERN = re.compile(r"^(en|fr)-s?\d{3}$")
#: SHA-256 of the 176 hand-written lines (with their newlines) as first published: they never change.
HAND_WRITTEN_SHA256 = "cc222629b9f56928afa8e8f4180784e031530f052bc10ca938ff291311162981"
#: Paired test items needed to show a 5-point gain at 80 % power, two-sided alpha 0.05, SD 0.184 of
#: per-lead grade differences (DATASET.md, "Size of the test split").
NEEDED_TEST_ITEMS = 107
WEBSITE_PATTERN = re.compile(r"^https://[a-z0-9][a-z0-9.-]*\.[a-z]{2,}$")

# Function words that are frequent in one language and (as whole words) absent from the other.
FRENCH_MARKERS = (" de ", " et ", " des ", " une ", " un ", " le ", " la ", " les ", " du ")
ENGLISH_MARKERS = (" the ", " and ", " of ", " with ", " is ", " its ")


def _load_text() -> str:
    resource = files("promptevolve.examples.lead_enrichment") / "leads.jsonl"
    return resource.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def leads() -> list[dict[str, Any]]:
    return [json.loads(line) for line in _load_text().splitlines()]


def _padded(text: str) -> str:
    """Lower-cased, punctuation replaced by spaces and padded, so markers match whole words."""
    return " " + re.sub(r"[^\w'’-]+", " ", text.lower()) + " "


def test_every_line_is_a_json_object() -> None:
    lines = _load_text().splitlines()
    assert lines, "the dataset is empty"
    for number, line in enumerate(lines, start=1):
        assert line.strip(), f"line {number} is blank"
        assert isinstance(json.loads(line), dict), f"line {number} is not a JSON object"


def test_records_have_exactly_the_documented_fields(leads: list[dict[str, Any]]) -> None:
    for lead in leads:
        synthetic = lead.get("origin") == "synthetic"
        assert set(lead) == TOP_KEYS | ({"origin"} if synthetic else set()), lead.get("id")
        assert set(lead["inputs"]) == INPUT_KEYS, lead["id"]
        assert set(lead["expected"]) == EXPECTED_KEYS, lead["id"]
        for key in INPUT_KEYS:
            value = lead["inputs"][key]
            assert isinstance(value, str) and value.strip() == value and value, (lead["id"], key)
        assert isinstance(lead["rationale"], str) and lead["rationale"].strip(), lead["id"]
        assert lead["difficulty"] in ("normal", "hard"), lead["id"]
        assert WEBSITE_PATTERN.match(lead["inputs"]["website"]), (lead["id"], lead["inputs"]["website"])


def test_ids_are_unique_and_carry_the_locale(leads: list[dict[str, Any]]) -> None:
    ids = [lead["id"] for lead in leads]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    for lead in leads:
        assert ID_PATTERN.match(lead["id"]), lead["id"]
        assert lead["locale"] in LOCALES, lead["id"]
        assert lead["id"].startswith(lead["locale"] + "-"), lead["id"]


def test_labels_come_from_the_taxonomy(leads: list[dict[str, Any]]) -> None:
    for lead in leads:
        expected = lead["expected"]
        assert expected["industry"] in INDUSTRIES, lead["id"]
        assert expected["size_band"] in SIZE_BANDS, lead["id"]
        maturity = expected["ai_maturity"]
        assert type(maturity) is int and maturity in AI_MATURITY_LEVELS, lead["id"]
        signals = expected["growth_signals"]
        assert isinstance(signals, list), lead["id"]
        assert all(signal in GROWTH_SIGNALS for signal in signals), (lead["id"], signals)


def test_signals_are_sorted_in_taxonomy_order_without_duplicates(leads: list[dict[str, Any]]) -> None:
    for lead in leads:
        signals = lead["expected"]["growth_signals"]
        assert len(signals) == len(set(signals)), (lead["id"], signals)
        assert signals == sorted(signals, key=GROWTH_SIGNALS.index), (lead["id"], signals)
        assert len(signals) <= 3, (lead["id"], signals)


def test_ai_adoption_is_consistent_with_maturity(leads: list[dict[str, Any]]) -> None:
    """An adoption event needs visible AI use (level >= 2); an AI-native company (5) adopts nothing."""
    for lead in leads:
        expected = lead["expected"]
        if "ai_adoption" in expected["growth_signals"]:
            assert 2 <= expected["ai_maturity"] <= 4, lead["id"]


def test_size_and_language_balance(leads: list[dict[str, Any]]) -> None:
    per_locale = Counter(lead["locale"] for lead in leads)
    assert len(leads) >= 170
    assert per_locale["en"] >= 85, per_locale
    assert per_locale["fr"] >= 85, per_locale


def test_every_industry_is_covered_in_both_languages(leads: list[dict[str, Any]]) -> None:
    overall = Counter(lead["expected"]["industry"] for lead in leads)
    for industry in INDUSTRIES:
        assert overall[industry] >= 6, (industry, overall[industry])
        for locale in LOCALES:
            count = sum(
                1 for lead in leads if lead["locale"] == locale and lead["expected"]["industry"] == industry
            )
            assert count >= 3, (industry, locale, count)


def test_size_bands_signals_and_maturity_levels_are_covered(leads: list[dict[str, Any]]) -> None:
    bands = Counter(lead["expected"]["size_band"] for lead in leads)
    for band in SIZE_BANDS:
        assert bands[band] >= 15, (band, bands[band])
    signals = Counter(signal for lead in leads for signal in lead["expected"]["growth_signals"])
    for signal in GROWTH_SIGNALS:
        assert signals[signal] >= 10, (signal, signals[signal])
    levels = Counter(lead["expected"]["ai_maturity"] for lead in leads)
    for level in AI_MATURITY_LEVELS:
        assert levels[level] >= 15, (level, levels[level])


def test_signal_counts_and_hard_items_have_the_intended_shape(leads: list[dict[str, Any]]) -> None:
    lengths = Counter(len(lead["expected"]["growth_signals"]) for lead in leads)
    assert 0.10 <= lengths[0] / len(leads) <= 0.20, lengths
    assert lengths[1] + lengths[2] > len(leads) / 2, lengths
    assert lengths[3] >= 1, lengths
    hard = sum(1 for lead in leads if lead["difficulty"] == "hard")
    assert 0.05 <= hard / len(leads) <= 0.20, hard
    for locale in LOCALES:
        assert any(lead["difficulty"] == "hard" for lead in leads if lead["locale"] == locale), locale


def test_no_duplicate_companies_descriptions_or_websites(leads: list[dict[str, Any]]) -> None:
    for field in ("company_name", "description", "website"):
        values = [lead["inputs"][field].casefold() for lead in leads]
        duplicates = [value for value, n in Counter(values).items() if n > 1]
        assert not duplicates, (field, duplicates)


def test_descriptions_have_one_to_four_sentences(leads: list[dict[str, Any]]) -> None:
    for lead in leads:
        description = lead["inputs"]["description"]
        assert description[-1] in ".!?", lead["id"]
        sentences = re.findall(r"[.!?](?:\s|$)", description)
        assert 1 <= len(sentences) <= 4, (lead["id"], len(sentences))


def test_french_items_are_french_and_english_items_are_english(leads: list[dict[str, Any]]) -> None:
    for lead in leads:
        text = _padded(lead["inputs"]["description"])
        french = sum(text.count(marker) for marker in FRENCH_MARKERS)
        english = sum(text.count(marker) for marker in ENGLISH_MARKERS)
        if lead["locale"] == "fr":
            assert french >= 2 and english == 0, (lead["id"], french, english)
        else:
            assert english >= 2 and french == 0, (lead["id"], french, english)


# --- the synthetic leads ------------------------------------------------------------------------------


def _synthetic(leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [lead for lead in leads if lead.get("origin") == "synthetic"]


def test_hand_written_leads_are_kept_byte_for_byte_and_first() -> None:
    lines = _load_text().splitlines(keepends=True)
    hand = [line for line in lines if '"origin": "synthetic"' not in line]
    assert lines[: len(hand)] == hand and len(hand) == 176
    assert hashlib.sha256("".join(hand).encode()).hexdigest() == HAND_WRITTEN_SHA256


def test_the_generator_reproduces_the_committed_file() -> None:
    text = _load_text()
    assert generate(text) == text, "run python -m promptevolve.examples.lead_enrichment.generate"


def test_each_locale_has_a_default_test_split_large_enough_for_a_five_point_gain(leads) -> None:
    for locale in LOCALES:
        keys = [lead["id"] for lead in leads if lead["locale"] == locale]
        assert len(keys) == PER_LOCALE
        for seed in (0, 1):
            splits = Counter(split_keys(keys, seed=seed, fractions=DEFAULT_FRACTIONS).values())
            assert splits["test"] >= NEEDED_TEST_ITEMS, (locale, seed, splits)


_HEADCOUNT = re.compile(r"(?:employs|staff of|emploie|compte) (\d{1,3}(?:[, ]\d{3})*)\b")
#: Trigger words of each growth signal (DATASET.md), written apart from the generator's phrase bank.
_SIGNAL_CUES = {
    "hiring": r"\b(?:is hiring|is recruiting|recrute)\b",
    "funding_round": r"\b(?:raised|closed a) .*round|\ba levé\b",
    "new_product": r"\b(?:launched|introduced) a new\b|\ba lancé une nouvelle\b",
    "international_expansion": r"abroad for the first time|première fois à l'étranger",
    "partnership": r"signed a partnership|partnered with|a signé un partenariat",
    "acquisition": r"\b(?:acquired|bought) a\b|\ba racheté\b",
    "new_office": r"\b(?:opened|is opening) a new\b|\bouvre un nouv",
    "revenue_growth": r"(?:revenue by|sales rise by|chiffre d'affaires (?:en hausse|progresser) de) \d+ %",
    "leadership_hire": r"\b(?:appointed|named) a new\b|\ba nommé un nouveau\b",
    "ai_adoption": r"last month it rolled out|this year it started|deployed a third|le mois dernier, elle a "
    r"déployé|cette année, elle a commencé|en a déployé un troisième",
}
#: AI maturity from the practice described, highest level first (DATASET.md, "AI maturity").
_MATURITY_CUES = (
    (5, r"core of the service|built on machine-learning models|cœur du service|repose sur des modèles"),
    (4, r"data team|équipe data"),
    (3, r"machine-learning model|in-house model|modèle d'apprentissage|modèle maison"),
    (2, r"CRM|ChatGPT|Copilot|help-desk|support client"),
)


def _maturity_from_text(description: str) -> int:
    for level, cue in _MATURITY_CUES:
        if re.search(cue, description):
            return level
    return 1


def test_every_synthetic_label_follows_from_the_facts_in_its_description(leads) -> None:
    """Labels checked: each label is re-derived from the description text alone, then compared."""
    activities = {locale: {a.text: a.industry for a in ACTIVITIES[locale]} for locale in LOCALES}
    synthetic = _synthetic(leads)
    assert len(synthetic) == 2 * PER_LOCALE - 176
    for lead in synthetic:
        text, expected, ident = lead["inputs"]["description"], lead["expected"], lead["id"]
        first = text.split(". ")[0].removeprefix(lead["inputs"]["company_name"] + " ")
        assert activities[lead["locale"]].get(first) == expected["industry"], (ident, first)
        counts = _HEADCOUNT.findall(text)
        assert len(counts) == 1, (ident, counts)
        headcount = int(re.sub(r"[, ]", "", counts[0]))
        assert band_of(headcount) == expected["size_band"], (ident, headcount)
        found = [signal for signal in GROWTH_SIGNALS if re.search(_SIGNAL_CUES[signal], text, re.IGNORECASE)]
        assert found == expected["growth_signals"], (ident, found)
        assert _maturity_from_text(text) == expected["ai_maturity"], ident


def test_synthetic_leads_never_sit_on_a_band_boundary_and_plausible_levels_hold(leads) -> None:
    bounds = {10, 11, 50, 51, 200, 201, 1000, 1001, 5000, 5001}
    for lead in _synthetic(leads):
        headcount = int(re.sub(r"[, ]", "", _HEADCOUNT.findall(lead["inputs"]["description"])[0]))
        assert not any(abs(headcount - b) <= 1 for b in bounds), lead["id"]
        if lead["expected"]["ai_maturity"] == 4:  # a data team needs a company of 51 or more
            assert SIZE_BANDS.index(lead["expected"]["size_band"]) >= 2, lead["id"]
