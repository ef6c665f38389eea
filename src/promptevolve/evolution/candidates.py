"""Candidates and their measured results: the values the search passes between its steps.

A ``Candidate`` is a prompt the search may evaluate: its parts, settings, the template they render to,
and where it came from (strategy, rationale, parent). Its ``key`` is a hash of the template and
settings, so two strategies proposing the same prompt share one evaluation. ``ItemResult`` is one
evaluated item: the output, the evaluator's verdict and what the call cost.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptevolve.core.hashing import canonical_json, sha256_hex
from promptevolve.core.types import ModelSettings
from promptevolve.evolution.parts import PromptParts, template_chars

__all__ = ["Candidate", "ItemResult", "Unusable", "mean"]


@dataclass(frozen=True)
class Candidate:
    parts: PromptParts
    settings: ModelSettings
    strategy: str
    rationale: str
    parent_key: str | None = None
    generation: int = 0
    notes: Mapping[str, Any] = field(default_factory=dict)

    # Cached: the search reads these many times per generation, and rendering demos is not free.
    @functools.cached_property
    def template(self) -> str | list[dict[str, str]]:
        return self.parts.to_template()

    @functools.cached_property
    def key(self) -> str:
        content = {"template": self.template, "settings": self.settings.model_dump(mode="json")}
        return sha256_hex(canonical_json(content))[:16]

    @functools.cached_property
    def chars(self) -> int:
        return template_chars(self.template)


@dataclass(frozen=True, slots=True)
class ItemResult:
    key: str
    score: float
    output: str
    explanation: str | None
    parsed: bool
    fields: Mapping[str, float] = field(default_factory=dict)
    tokens: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Unusable:
    """A proposal that could not be used: discarded and counted, with the raw reply kept."""

    strategy: str
    reason: str
    raw: str = ""


def mean(values: list[float] | tuple[float, ...]) -> float:
    return sum(values) / len(values) if values else 0.0
