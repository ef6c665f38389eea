"""Value types that cross package lines: model settings, rendered prompts, completions.

``ModelSettings`` is a pydantic model because users write it (CLI, API, SDK) and the registry stores it
as JSON; the rest are frozen dataclasses, cheap to build on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatMessage",
    "Completion",
    "ModelSettings",
    "RenderedPrompt",
    "TemplateKind",
    "VariantKind",
]


class VariantKind(StrEnum):
    """Why a variant exists; only informative, every kind routes the same way."""

    BASELINE = "baseline"
    OPTIMIZED = "optimized"
    EVOLVED = "evolved"
    AB_TEST = "ab_test"


class TemplateKind(StrEnum):
    """A plain-text (completion) template, or chat messages in OpenAI's role/content form."""

    TEXT = "text"
    CHAT = "chat"


class ModelSettings(BaseModel):
    """How to call the model for a variant. Extra keys are kept and passed to the provider.

    ``provider`` names a registered provider (``local``, ``openai``, ``litellm``, ``scripted``); ``None``
    means the optimizer's default. ``response_format="json"`` tells the SDK to parse the output as JSON.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    provider: str | None = None
    model: str = "smollm2-135m-instruct"
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=1, le=131072)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    repeat_penalty: float | None = Field(default=None, gt=0.0)
    response_format: Literal["text", "json"] = "text"
    timeout_s: float | None = Field(default=None, gt=0.0)

    def extra_params(self) -> dict[str, Any]:
        """Keys the user added beyond the known ones, for the provider to pass through."""
        return dict(self.model_extra or {})


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A template with its variables filled in: either ``text`` or ``messages`` is set."""

    kind: TemplateKind
    text: str | None = None
    messages: tuple[ChatMessage, ...] = ()

    def as_messages(self) -> list[dict[str, str]]:
        """OpenAI-style messages; a text prompt becomes one user message."""
        if self.kind is TemplateKind.CHAT:
            return [{"role": m.role, "content": m.content} for m in self.messages]
        return [{"role": "user", "content": self.text or ""}]

    def as_text(self) -> str:
        """The prompt as one string (for logging, hashing and length limits)."""
        if self.kind is TemplateKind.TEXT:
            return self.text or ""
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.messages)


@dataclass(frozen=True, slots=True)
class Completion:
    """What a provider returns for one call."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    model: str
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
