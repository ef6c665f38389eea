"""A prompt's scoring configuration as people read and change it: defaults filled, changes merged.

``prompts.config["scoring"]`` holds the weights of the composite score and the other fields of
``ScoringConfig`` (docs/scoring.md). ``scoring_of`` answers the configuration in effect, with whether it
is stored or the defaults; ``update_scoring`` merges a partial change (weights merge one by one, any
other field replaces) into it and writes the result whole, through ``Registry.change_config``, so the
merge happens under the prompt's row lock and two people changing different weights at once both land.
The change is audited (``config``) like every registry change; a refused one writes nothing.

The composite divides by the weights' sum, so weights need not sum to 1: ``PromptScoring`` says whether
they do (``normalised``) and which share of the score each component gets when all four are measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from promptevolve.core.errors import ConflictError, ValidationError
from promptevolve.registry.service import Registry
from promptevolve.scoring import COMPONENTS, ScoringConfig

__all__ = ["CONFIG_KEY", "PromptScoring", "scoring_of", "update_scoring"]

#: The key of ``prompts.config`` that holds the scoring configuration.
CONFIG_KEY = "scoring"


class PromptScoring(BaseModel):
    """The scoring configuration in effect for one prompt."""

    prompt: str
    stored: bool = Field(description="False: the prompt has no stored configuration and uses the defaults")
    config: ScoringConfig = Field(description="Every field, defaults filled in")
    weights_sum: float = Field(description="The sum of the four weights")
    normalised: bool = Field(
        description="Whether the weights sum to 1; else the composite divides by the sum"
    )
    shares: dict[str, float] = Field(
        description="Each component's share of the composite when all four are measured (weight / sum)"
    )

    @classmethod
    def of(cls, prompt: str, config: ScoringConfig, *, stored: bool) -> PromptScoring:
        total = math.fsum(config.weights.of(c) for c in COMPONENTS)  # 0.5 + 3 × 0.2 shows as 1.1
        return cls(
            prompt=prompt,
            stored=stored,
            config=config,
            weights_sum=total,
            normalised=math.isclose(total, 1.0, rel_tol=0.0, abs_tol=1e-9),
            shares={c: config.weights.of(c) / total for c in COMPONENTS},
        )


def _effective(prompt: str, config: Mapping[str, Any]) -> ScoringConfig:
    """The stored section upgraded to this release's form, or the defaults; a section this release cannot
    read (written by another release) is a ``ConflictError``: the state, not the request, is at fault."""
    try:
        return ScoringConfig.from_prompt_config(config)
    except ValidationError as exc:
        raise ConflictError(
            f"the scoring configuration stored for {prompt!r} cannot be used by this release: {exc}"
        ) from None


def scoring_of(registry: Registry, prompt: str) -> PromptScoring:
    """The prompt's scoring configuration in effect (``NotFoundError`` for an unknown prompt)."""
    config = registry.get_config(prompt)
    stored = config.get(CONFIG_KEY) is not None
    return PromptScoring.of(prompt, _effective(prompt, config), stored=stored)


def _merged(current: ScoringConfig, changes: Mapping[str, Any]) -> ScoringConfig:
    """``changes`` over ``current``: ``weights`` merge one by one, other fields replace. Validated whole:
    a pydantic ``ValidationError`` names each field at fault (``weights`` when every weight would be 0)."""
    doc = current.model_dump(mode="json")
    for key, value in changes.items():
        both = key == "weights" and isinstance(value, Mapping)
        doc[key] = {**doc["weights"], **value} if both else value
    return ScoringConfig.model_validate(doc)


def update_scoring(
    registry: Registry, prompt: str, changes: Mapping[str, Any], *, actor: str | None = None
) -> PromptScoring:
    """Merge ``changes`` (a partial ``ScoringConfig``: ``{"weights": {"accuracy": 0.5}}``) into the
    prompt's configuration in effect and store the result whole, in one audited change.

    Refused, with nothing written: an empty change (``ValidationError``), an unknown prompt
    (``NotFoundError``), a stored section this release cannot read (``ConflictError``), a field or a
    merged result that is invalid (pydantic's ``ValidationError``, naming the field). Experiments already
    created keep the copy they took; those created afterwards use the new configuration."""
    if not changes:
        raise ValidationError(f"nothing to change in the scoring of {prompt!r}: give at least one field")
    after = registry.change_config(
        prompt,
        lambda config: {CONFIG_KEY: _merged(_effective(prompt, config), changes).to_stored()},
        actor=actor,
    )
    return PromptScoring.of(prompt, ScoringConfig.from_stored(after[CONFIG_KEY]), stored=True)
