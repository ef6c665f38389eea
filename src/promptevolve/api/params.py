"""Path and query parameter types shared by routers, constrained as the registry constrains them, so
malformed names are refused with 422 before they reach a query."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from promptevolve.registry.models import LABEL_PATTERN, NAME_PATTERN

__all__ = [
    "INT32_MAX",
    "VERSION_PATTERN",
    "ExecutionId",
    "Label",
    "PromptName",
    "PromptQuery",
    "Version",
    "VersionQuery",
]

INT32_MAX = 2_147_483_647
VERSION_PATTERN = r"^[0-9A-Za-z.+\-]{1,64}$"

PromptName = Annotated[str, Path(pattern=NAME_PATTERN.pattern, description="Prompt name")]
PromptQuery = Annotated[str | None, Query(pattern=NAME_PATTERN.pattern, description="Only this prompt")]
Version = Annotated[str, Path(pattern=VERSION_PATTERN, description="Semantic version, e.g. 1.2.0")]
VersionQuery = Annotated[str | None, Query(pattern=VERSION_PATTERN, description="Semantic version")]
Label = Annotated[str, Path(pattern=LABEL_PATTERN.pattern, description="Label, e.g. production")]
ExecutionId = Annotated[str, Path(pattern=r"^[0-9A-Za-z_\-]{1,64}$", description="Execution id")]
