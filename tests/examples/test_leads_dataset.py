"""The bundled lead-enrichment dataset is valid, labelled from the taxonomy, and covers it.

The file is loaded the way users load it (``importlib.resources``), so the test also proves it ships
inside the installed package.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib.resources import files
from typing import Any

import pytest

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
ID_PATTERN = re.compile(r"^(en|fr)-\d{3}$")
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
        assert set(lead) == TOP_KEYS, lead.get("id")
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
