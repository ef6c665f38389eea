"""Pricing: known models cost what the table says, unknown models have no cost, users can override."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptevolve.core.errors import ConfigurationError
from promptevolve.providers.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, cost_usd


def test_a_known_model_costs_tokens_times_its_price_per_million() -> None:
    # gpt-4o: 2.50 USD per 1M input tokens, 10.00 per 1M output tokens.
    assert cost_usd("gpt-4o", 1_000, 500) == pytest.approx(0.0075)


def test_an_unknown_model_has_no_cost_rather_than_a_guess() -> None:
    assert cost_usd("my-own-finetune", 1_000, 500) is None
    assert PriceTable.default().price("gpt-99") is None


def test_local_models_cost_nothing() -> None:
    assert cost_usd("smollm2-135m-instruct", 10_000, 10_000) == 0.0
    assert cost_usd("local/gemma3-270m.q4_k_m", 10_000, 10_000) == 0.0


@pytest.mark.parametrize(
    ("name", "alias"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("GPT-4o-mini", "gpt-4o-mini"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("mistral-large-latest", "mistral-large"),
    ],
)
def test_dated_snapshots_and_routing_prefixes_resolve_to_their_model(name: str, alias: str) -> None:
    assert PriceTable.default().price(name) == DEFAULT_PRICES[alias]


def test_a_snapshot_with_its_own_price_is_not_priced_as_its_alias() -> None:
    assert PriceTable.default().price("gpt-4o-2024-05-13") == ModelPrice(5.0, 15.0)


def test_overrides_from_a_mapping_replace_and_add_prices() -> None:
    overrides = {"gpt-4o": {"input": 1.0, "output": 2.0}, "my-own-finetune": [3.0, 6.0]}

    assert cost_usd("gpt-4o", 1_000_000, 1_000_000, overrides) == pytest.approx(3.0)
    assert cost_usd("my-own-finetune", 1_000_000, 0, overrides) == pytest.approx(3.0)
    assert cost_usd("gpt-4o-mini", 1_000_000, 0, overrides) == pytest.approx(0.15)


def test_overrides_load_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"house-model": {"input": 0.5, "output": 1.5}}))

    table = PriceTable.load(path)

    assert table.cost_usd("house-model", 2_000_000, 1_000_000) == pytest.approx(2.5)
    assert table.price("gpt-4o") == DEFAULT_PRICES["gpt-4o"]


def test_overrides_load_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('["house-model"]\ninput = 0.5\noutput = 1.5\n')

    assert cost_usd("house-model", 1_000_000, 1_000_000, str(path)) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "overrides",
    [{"m": {"input": 1.0}}, {"m": "cheap"}, {"m": [1.0]}, {"m": {"input": -1.0, "output": 1.0}}],
)
def test_a_malformed_override_is_a_configuration_error_naming_the_model(overrides: dict) -> None:
    with pytest.raises(ConfigurationError, match="'m'"):
        PriceTable.load(overrides)


def test_an_unreadable_or_unknown_price_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "prices.yaml").write_text("gpt-4o: [1, 2]\n")
    (tmp_path / "broken.json").write_text("{not json")

    for name in ("missing.json", "prices.yaml", "broken.json"):
        with pytest.raises(ConfigurationError, match=name):
            PriceTable.load(tmp_path / name)


def test_the_default_table_covers_the_three_vendors_and_never_charges_negative() -> None:
    names = set(DEFAULT_PRICES)

    assert {"gpt-4o", "claude-3-5-sonnet", "mistral-large"} <= names
    assert all(p.input_per_mtok >= 0 and p.output_per_mtok >= 0 for p in DEFAULT_PRICES.values())
