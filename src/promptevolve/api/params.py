"""Path and query parameter types shared by routers, constrained as the registry constrains them, so
malformed names are refused with 422 before they reach a query.

``Instant`` is a query timestamp held to what the OpenAPI document says (``format: date-time``, RFC 3339):
pydantic alone would also take ``2020`` (seconds since 1970) or a date without a time, so a request the
document calls invalid would be answered as if it meant something."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AwareDatetime, BeforeValidator

from promptevolve.registry.models import LABEL_PATTERN, NAME_PATTERN

__all__ = [
    "INT32_MAX",
    "VERSION_PATTERN",
    "ExecutionId",
    "Instant",
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

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("give an RFC 3339 date-time with its offset, e.g. 2026-12-06T10:00:00Z")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
