"""What a call cost: a per-model price table in USD per million input and output tokens.

``DEFAULT_PRICES`` holds list prices of common OpenAI, Anthropic and Mistral models as published in 2025
(standard tier, no batch or cached-input discounts) and 0.0 for the embedded local models. Prices
change: check them against the vendors' pages and override what differs.

A ``PriceTable`` is immutable and built once: ``PriceTable.default()``, or ``PriceTable.load(source)``
where ``source`` is a mapping or the path of a JSON or TOML file whose entries are laid over the
defaults. An entry is ``{"input": 2.5, "output": 10.0}`` (USD per 1M tokens) or a pair ``[2.5, 10.0]``;
in TOML, one table per model (``["gpt-4o"]`` with ``input = 2.5`` and ``output = 10.0``).

Lookup of a model name, in order: the name as given (case-insensitive); without a routing prefix such as
``openai/`` or ``anthropic/`` (LiteLLM's form); without a trailing ``-latest`` or date stamp
(``-2024-08-06``, ``-20241022``), because vendors date their snapshots; finally any name under
``local/`` (the local provider's custom GGUF files) costs 0.0. A snapshot whose price differs from its
alias has its own entry (``gpt-4o-2024-05-13``). An unknown model has **no** price: ``cost_usd``
returns ``None`` rather than a guess, and callers record the cost as unknown.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from promptevolve.core.errors import ConfigurationError

__all__ = ["DEFAULT_PRICES", "ModelPrice", "PriceSource", "PriceTable", "cost_usd"]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per one million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1_000_000


def _p(input_per_mtok: float, output_per_mtok: float) -> ModelPrice:
    return ModelPrice(input_per_mtok, output_per_mtok)


DEFAULT_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        # OpenAI
        "gpt-5": _p(1.25, 10.0),
        "gpt-5-mini": _p(0.25, 2.0),
        "gpt-5-nano": _p(0.05, 0.40),
        "gpt-4.1": _p(2.0, 8.0),
        "gpt-4.1-mini": _p(0.40, 1.60),
        "gpt-4.1-nano": _p(0.10, 0.40),
        "gpt-4o": _p(2.50, 10.0),
        "gpt-4o-2024-05-13": _p(5.0, 15.0),
        "gpt-4o-mini": _p(0.15, 0.60),
        "gpt-4-turbo": _p(10.0, 30.0),
        "gpt-4": _p(30.0, 60.0),
        "gpt-3.5-turbo": _p(0.50, 1.50),
        "gpt-3.5-turbo-instruct": _p(1.50, 2.0),
        "o1": _p(15.0, 60.0),
        "o1-mini": _p(1.10, 4.40),
        "o3": _p(2.0, 8.0),
        "o3-mini": _p(1.10, 4.40),
        "o4-mini": _p(1.10, 4.40),
        "text-embedding-3-small": _p(0.02, 0.0),
        "text-embedding-3-large": _p(0.13, 0.0),
        # Anthropic
        "claude-opus-4-1": _p(15.0, 75.0),
        "claude-opus-4": _p(15.0, 75.0),
        "claude-sonnet-4-5": _p(3.0, 15.0),
        "claude-sonnet-4": _p(3.0, 15.0),
        "claude-haiku-4-5": _p(1.0, 5.0),
        "claude-3-7-sonnet": _p(3.0, 15.0),
        "claude-3-5-sonnet": _p(3.0, 15.0),
        "claude-3-5-haiku": _p(0.80, 4.0),
        "claude-3-opus": _p(15.0, 75.0),
        "claude-3-haiku": _p(0.25, 1.25),
        # Mistral
        "mistral-large": _p(2.0, 6.0),
        "mistral-large-2411": _p(2.0, 6.0),
        "mistral-medium": _p(0.40, 2.0),
        "mistral-medium-2505": _p(0.40, 2.0),
        "mistral-small": _p(0.10, 0.30),
        "mistral-small-2503": _p(0.10, 0.30),
        "codestral": _p(0.30, 0.90),
        "ministral-8b": _p(0.10, 0.10),
        "ministral-3b": _p(0.04, 0.04),
        "open-mistral-nemo": _p(0.15, 0.15),
        "pixtral-large": _p(2.0, 6.0),
        "mistral-embed": _p(0.10, 0.0),
        # Local models run in process: no per-token price.
        "smollm2-135m-instruct": _p(0.0, 0.0),
        "gemma3-270m": _p(0.0, 0.0),
    }
)

#: What ``PriceTable.load`` and ``cost_usd`` accept as user prices.
PriceSource = Mapping[str, Any] | str | Path

_PREFIX = re.compile(r"^[a-z0-9_.-]+/")
_SUFFIX = re.compile(r"-(latest|\d{4}-\d{2}-\d{2}|\d{8})$")
_LOCAL_PREFIX = "local/"
#: Model names whose lookup a table remembers (a bound, should an application pass a new name per call).
_REMEMBERED = 1024


class PriceTable(Mapping[str, ModelPrice]):
    """An immutable table of model prices with the lookup rules of this module's docstring."""

    __slots__ = ("_found", "_prices")

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = {name.lower(): price for name, price in prices.items()}
        # Lookups already made (the table never changes): every run() prices its model, and the rules
        # (two regular expressions) cost more than the rest of the pricing.
        self._found: dict[str, ModelPrice | None] = {}

    @classmethod
    def default(cls) -> PriceTable:
        return cls(DEFAULT_PRICES)

    @classmethod
    def load(
        cls, overrides: PriceSource | None = None, *, base: Mapping[str, ModelPrice] = DEFAULT_PRICES
    ) -> PriceTable:
        """``base`` with ``overrides`` (a mapping, or a ``.json`` / ``.toml`` file) laid over it."""
        merged = dict(base)
        if overrides is not None:
            merged.update(_parse_source(overrides))
        return cls(merged)

    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or ``None`` when the table does not know it."""
        try:
            return self._found[model]
        except KeyError:
            pass
        price = self._lookup(model)
        if len(self._found) < _REMEMBERED:
            self._found[model] = price
        return price

    def _lookup(self, model: str) -> ModelPrice | None:
        name = model.strip().lower()
        for candidate in _candidates(name):
            if candidate in self._prices:
                return self._prices[candidate]
        if name.startswith(_LOCAL_PREFIX):
            return ModelPrice(0.0, 0.0)
        return None

    def cost_usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.price(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)

    def __getitem__(self, model: str) -> ModelPrice:
        price = self.price(model)
        if price is None:
            raise KeyError(model)
        return price

    def __iter__(self) -> Iterator[str]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)


def cost_usd(
    model: str, prompt_tokens: int, completion_tokens: int, table: PriceTable | PriceSource | None = None
) -> float | None:
    """The cost in USD of one call, or ``None`` when the model's price is unknown.

    ``table`` is a ``PriceTable``, or overrides (a mapping or a JSON/TOML path) laid over the defaults;
    on a hot path build the ``PriceTable`` once instead of passing a path.
    """
    if not isinstance(table, PriceTable):
        table = PriceTable.default() if table is None else PriceTable.load(table)
    return table.cost_usd(model, prompt_tokens, completion_tokens)


def _candidates(name: str) -> Iterator[str]:
    yield name
    bare = _PREFIX.sub("", name, count=1)
    if bare != name:
        yield bare
    undated = _SUFFIX.sub("", bare)
    if undated != bare:
        yield undated


def _parse_source(source: PriceSource) -> dict[str, ModelPrice]:
    if isinstance(source, Mapping):
        raw: Mapping[str, Any] = source
        where = "price overrides"
    else:
        raw, where = _read_file(Path(source)), str(source)
    return {str(name): _parse_price(value, name, where) for name, value in raw.items()}


def _read_file(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the price file {path}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            if isinstance(data, dict):
                return data
            raise ConfigurationError(f"the price file {path} must hold a JSON object of model prices")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"the price file {path} does not parse: {exc}") from exc
    raise ConfigurationError(f"the price file {path} must end in .json or .toml")


def _parse_price(value: Any, name: str, where: str) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    try:
        if isinstance(value, Mapping):
            price = ModelPrice(float(value["input"]), float(value["output"]))
        elif isinstance(value, list | tuple) and len(value) == 2:
            price = ModelPrice(float(value[0]), float(value[1]))
        else:
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise ConfigurationError(
            f"{where}: the price of {name!r} must be {{'input': x, 'output': y}} in USD per 1M tokens "
            f"or a pair [x, y], not {value!r}"
        ) from None
    if price.input_per_mtok < 0 or price.output_per_mtok < 0:
        raise ConfigurationError(f"{where}: the price of {name!r} cannot be negative")
    return price
