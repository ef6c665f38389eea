"""What the SDK hands back: run results, prompt handles, and its own health counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from promptevolve.core.types import ModelSettings, RenderedPrompt
from promptevolve.templates import ParsedTemplate, render, render_messages

if TYPE_CHECKING:
    from promptevolve.client.call import Attempt

__all__ = ["OptimizerStats", "PromptHandle", "RunResult"]


class RunResult(BaseModel):
    """The outcome of ``PromptOptimizer.run``. ``status`` is ``ok`` (the routed variant answered),
    ``fallback`` (the baseline or the caller's fallback prompt answered; ``fallback_reason`` says why)
    or ``error`` (nothing could answer; ``error`` says why, and ``text`` is None)."""

    model_config = ConfigDict(frozen=True)

    status: Literal["ok", "fallback", "error"]
    text: str | None
    parsed: Any | None = Field(default=None, description="The output parsed as JSON, for JSON variants")
    parse_error: str | None = None
    prompt: str
    version: str | None = Field(description="Version that answered; None for the caller's fallback")
    variant_id: int | None = None
    experiment_id: int | None = None
    arm: str | None = None
    execution_id: str | None = None
    model: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    is_fallback: bool = False
    fallback_reason: str | None = None
    error: str | None = None
    unexpected_variables: list[str] = Field(default_factory=list)


_RUN_RESULT_FIELDS = frozenset(RunResult.model_fields)
_FIELDS_SET = set(_RUN_RESULT_FIELDS)
_set = object.__setattr__


def built_run_result(**values: Any) -> RunResult:
    """``RunResult.model_construct(**values)`` for the SDK's hot path: the same object (no validation,
    every field set), without model_construct's loop over the fields and their defaults. ``values``
    must give every field; anything else goes through ``model_construct``."""
    if values.keys() != _RUN_RESULT_FIELDS:
        return RunResult.model_construct(**values)
    result = RunResult.__new__(RunResult)
    _set(result, "__dict__", values)
    _set(result, "__pydantic_fields_set__", _FIELDS_SET.copy())  # every field: copying a set is cheapest
    _set(result, "__pydantic_extra__", None)
    _set(result, "__pydantic_private__", None)
    return result


@dataclass(frozen=True)
class PromptHandle:
    """A prompt chosen for an app that calls the model itself (``get_prompt``); ``track`` records it.
    ``prompt_id``: the prompt's id in the plan that chose it (what ``track`` records)."""

    prompt: str
    version: str | None
    variant_id: int | None
    template: ParsedTemplate
    settings: ModelSettings
    experiment_id: int | None = None
    arm: str | None = None
    unit_id: str | None = None
    is_fallback: bool = False
    fallback_reason: str | None = None
    prompt_id: int | None = None

    @property
    def variables(self) -> tuple[str, ...]:
        return self.template.variables

    def render(self, variables: Mapping[str, Any]) -> RenderedPrompt:
        return render(self.template, variables).prompt

    def messages(self, variables: Mapping[str, Any]) -> list[dict[str, str]]:
        """OpenAI-style messages, ready for ``client.chat.completions.create(messages=…)``."""
        return render_messages(self.template, variables)


def handle_for(prompt: str, attempt: Attempt, unit_id: str | None) -> PromptHandle:
    """The handle of ``attempt`` (``get_prompt``'s hot path): the same frozen object as the constructor
    makes, its fields set at once instead of one frozen-dataclass ``__setattr__`` each (2 µs of a 9 µs
    ``get_prompt`` on a quiet machine; ``tests/client/test_results.py`` proves them equal)."""
    handle = PromptHandle.__new__(PromptHandle)
    _set(
        handle,
        "__dict__",
        {
            "prompt": prompt,
            "version": attempt.version,
            "variant_id": attempt.variant_id,
            "template": attempt.template,
            "settings": attempt.settings,
            "experiment_id": attempt.experiment_id,
            "arm": attempt.arm,
            "unit_id": unit_id,
            "is_fallback": attempt.fallback_reason is not None,
            "fallback_reason": attempt.fallback_reason,
            "prompt_id": attempt.prompt_id,
        },
    )
    return handle


@dataclass
class OptimizerStats:
    """Counters of the layer's own health; every fallback is counted by reason."""

    runs: int = 0
    ok: int = 0
    errors: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)
    recorder: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
