"""The composite score of one execution: a weighted mean of four components, with missing ones explicit.

The four components, each in [0, 1] (``metrics.py`` defines how each is measured):

=================  =======  ========================================================================
component          weight   measured from
=================  =======  ========================================================================
``accuracy``       0.4      an evaluator's ``accuracy`` score, else feedback (score, correction, …)
``response_time``  0.2      latency against the prompt's target latency
``consistency``    0.2      format validity and/or agreement scores
``satisfaction``   0.2      thumbs and 1–5 ratings from users
=================  =======  ========================================================================

**Missing components are never zero.** Most executions carry only some components (feedback is rare,
evaluators run on samples), so the composite is the weighted mean over the components that are
*present*, renormalised by their weights, and reported with its **coverage**, the share of the total
weight that was present::

    composite = Σ_present w_i c_i / Σ_present w_i        coverage = Σ_present w_i / Σ_all w_i

An execution with no component at all, or with a coverage below ``min_coverage``, has no composite
(``None``): it is left out of the composite's sample, not counted as 0. A *failed* call (status
``error``) is not missing data: every component is 0, so its composite is 0 with full coverage.

Renormalising keeps the scale comparable between executions with and without feedback, at a price
worth knowing: when one arm of an experiment gets feedback more often than the other, the arms'
composites weigh the components differently. Reports therefore show the coverage per arm next to the
composite.

Configuration per prompt lives in ``prompts.config["scoring"]`` and is validated by ``ScoringConfig``
(a pydantic model: it is written by people and read from JSON); an experiment keeps a copy of it from
its creation, so changing the weights never changes a running experiment's metric. Both are stored with
a ``version`` (``to_stored`` / ``from_stored``): a later release that changes the fields upgrades an
older document as it reads it, instead of guessing its shape. A document without one was written before
versions existed and has version 1's fields; one from a newer release is refused, naming its version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from promptevolve.core.errors import ValidationError

__all__ = [
    "COMPONENTS",
    "SCORING_VERSION",
    "AccuracySource",
    "Components",
    "CompositeScore",
    "ScoringConfig",
    "Weights",
    "composite",
]

#: The version of the stored form of ``ScoringConfig`` (``ScoringConfig.to_stored``).
SCORING_VERSION = 1

#: The components of the composite, in report order.
COMPONENTS = ("accuracy", "response_time", "consistency", "satisfaction")

#: Where accuracy may come from (``metrics.accuracy``), tried in the configured order.
AccuracySource = Literal["evaluator", "feedback", "correction", "thumbs"]


class Weights(BaseModel):
    """Weights of the components; any non-negative numbers with a positive sum (they are normalised)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    accuracy: float = Field(default=0.4, ge=0.0)
    response_time: float = Field(default=0.2, ge=0.0)
    consistency: float = Field(default=0.2, ge=0.0)
    satisfaction: float = Field(default=0.2, ge=0.0)

    @model_validator(mode="after")
    def _positive_total(self) -> Weights:
        if self.total <= 0:
            raise ValueError("at least one component weight must be above 0")
        if math.isinf(self.total):  # each is finite, but their sum overflows: every composite would be NaN
            raise ValueError("the weights' sum must be finite: only their ratios count, so scale them down")
        return self

    @property
    def total(self) -> float:
        return self.accuracy + self.response_time + self.consistency + self.satisfaction

    def of(self, component: str) -> float:
        return float(getattr(self, component))


class ScoringConfig(BaseModel):
    """How a prompt's executions are scored (``prompts.config["scoring"]``); every field has a default."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    weights: Weights = Field(default_factory=Weights)
    target_latency_ms: float = Field(
        default=2000.0, gt=0.0, description="Latency at or under which response_time scores 1"
    )
    accuracy_sources: tuple[AccuracySource, ...] = Field(
        default=("evaluator", "feedback", "correction"),
        min_length=1,
        description="Where accuracy comes from, first present wins. 'thumbs' is left out by default: "
        "thumbs already make up satisfaction, and counting them twice would give them 60 % of the weight.",
    )
    consistency_metrics: tuple[str, ...] = Field(
        default=("format_valid", "agreement"),
        min_length=1,
        description="Score metrics (scores.metric) averaged into consistency, when present",
    )
    min_coverage: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Executions whose present weight share is lower get no composite",
    )

    @classmethod
    def from_prompt_config(cls, config: Mapping[str, Any] | None) -> ScoringConfig:
        """The scoring section of a prompt's configuration; ``ValidationError`` names what is wrong."""
        return cls.from_stored((config or {}).get("scoring"), where="prompts.config['scoring']")

    @classmethod
    def from_stored(cls, doc: Mapping[str, Any] | None, *, where: str = "scoring") -> ScoringConfig:
        """A stored document (``to_stored``), upgraded from an older version; ``ValidationError`` names
        every field that is wrong (and ``where`` the document is)."""
        body = dict(doc or {})
        version = body.pop("version", 1)  # unversioned: written before versions, version 1's fields
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCORING_VERSION:
            raise ValidationError(
                f"invalid scoring configuration ({where}): version: {version!r} is not a version this "
                f"release reads (1 to {SCORING_VERSION}); it was written by another release of promptevolve"
            )
        try:
            return cls.model_validate(body)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'scoring'}: {e['msg']}" for e in exc.errors()
            )
            raise ValidationError(f"invalid scoring configuration ({where}): {problems}") from None

    def to_stored(self) -> dict[str, Any]:
        """The stored document: the fields and the version of their form."""
        return {"version": SCORING_VERSION, **self.model_dump(mode="json")}


@dataclass(frozen=True, slots=True)
class Components:
    """The components of one execution; ``None`` means not measured (missing), never 0."""

    accuracy: float | None = None
    response_time: float | None = None
    consistency: float | None = None
    satisfaction: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class CompositeScore:
    """The composite of one execution: ``value`` (``None`` when too little was measured), the share of
    the weight that was present, and the components that were missing."""

    value: float | None
    coverage: float
    missing: tuple[str, ...]


def composite(components: Components, weights: Weights, *, min_coverage: float = 0.0) -> CompositeScore:
    """Weighted mean over the present components, renormalised; see the module docstring."""
    present = {k: v for k, v in components.as_dict().items() if v is not None}
    missing = tuple(k for k in COMPONENTS if k not in present)
    present_weight = sum(weights.of(k) for k in present)
    coverage = present_weight / weights.total
    if present_weight <= 0 or coverage < min_coverage:
        return CompositeScore(None, coverage, missing)
    value = sum(weights.of(k) * v for k, v in present.items()) / present_weight
    return CompositeScore(value, coverage, missing)
