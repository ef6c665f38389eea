"""The registry's public shapes: what callers send (``VariantCreate``) and get back.

Pydantic models, because these cross the boundary to the CLI, the API and the SDK unchanged.
Shares are percentages here (what people read and write); the store keeps basis points.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from promptevolve.core.types import ModelSettings, TemplateKind, VariantKind

__all__ = [
    "NAME_PATTERN",
    "AuditRecord",
    "LineageNode",
    "PromptSummary",
    "RegisterResult",
    "VariantCreate",
    "VariantDiff",
    "VariantInfo",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,99}$")


def check_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(
            f"invalid prompt name {value!r}: use letters, digits, '_', '-', '.', starting with a "
            "letter or digit, at most 200 characters"
        )
    return value


class VariantCreate(BaseModel):
    """A new variant to register. ``version`` omitted → bumped from ``parent`` by the semver rule."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    template: str | list[dict[str, Any]]
    settings: ModelSettings = Field(default_factory=ModelSettings)
    kind: VariantKind | None = None
    version: str | None = None
    parent: str | None = Field(default=None, description="Parent version; default: the serving variant")
    strategy: str | None = None
    rationale: str | None = None
    author: str | None = None
    description: str | None = Field(default=None, description="Prompt description (new prompts)")
    locale: str | None = Field(default=None, description="Prompt locale (new prompts)")
    meta: dict[str, Any] = Field(default_factory=dict)

    _check_name = field_validator("prompt")(check_name)


class VariantInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    prompt: str
    version: str
    variant_key: str
    kind: VariantKind
    template_kind: TemplateKind
    template: str | list[dict[str, Any]]
    variables: list[str]
    settings: ModelSettings
    strategy: str | None
    parent_version: str | None
    rationale: str | None
    meta: dict[str, Any]
    created_by: str | None
    created_at: datetime
    active: bool
    share: float = Field(description="Traffic share in percent")
    labels: list[str]

    @property
    def ref(self) -> str:
        return f"{self.prompt}@{self.version}"


class RegisterResult(BaseModel):
    variant: VariantInfo
    created: bool = Field(description="False when identical content was already registered")


class PromptSummary(BaseModel):
    name: str
    description: str | None
    locale: str | None
    variants: int
    latest_version: str | None
    active: dict[str, float] = Field(description="Active versions and their shares in percent")
    labels: dict[str, str] = Field(description="Label → version")
    created_at: datetime


class AuditRecord(BaseModel):
    id: int
    prompt: str
    version: str | None
    action: str
    actor: str | None
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime


class LineageNode(BaseModel):
    version: str
    kind: VariantKind
    strategy: str | None
    rationale: str | None
    active: bool
    score: float | None = Field(default=None, description="Held-out score recorded by evolution, if any")
    children: list[LineageNode] = Field(default_factory=list)


class VariantDiff(BaseModel):
    prompt: str
    from_version: str
    to_version: str
    template_diff: str = Field(description="Unified diff of the template text")
    variables_added: list[str]
    variables_removed: list[str]
    settings_changed: dict[str, tuple[Any, Any]]
    kind: tuple[str, str]
