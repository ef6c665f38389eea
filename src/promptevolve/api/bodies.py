"""Request bodies held to their JSON Schema: validated as JSON, strictly, before the route sees them.

FastAPI parses a body with ``json.loads`` and validates the result in pydantic's lax Python mode, which
coerces what JSON Schema refuses: ``true`` for an integer or a number (``"seed": false`` became 0), ``"5"``
for an integer, ``1`` or ``"yes"`` for a boolean. The OpenAPI document promises the schema, so a body
that breaks it must be refused, not reinterpreted. ``strict_body`` validates the raw bytes once more in
strict JSON mode, where integers stay integers, booleans booleans and strings strings (an integer is
still a number), while nested objects, arrays and enum values parse as JSON naturally does. The scope
dependencies of ``deps`` run it after the key is checked, so the order stays FastAPI's: 401, 403, then
422. A refusal is the same 422 problem as any malformed body; the cost is one validation of the body in
pydantic-core, microseconds beside the request's database work.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pydantic
from fastapi import Request
from pydantic import TypeAdapter

from promptevolve.api.errors import body_invalid

__all__ = ["strict_body"]


@lru_cache(maxsize=256)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


async def strict_body(request: Request) -> None:
    """Refuse (422) a JSON body that the lax validation would coerce into the route's body type."""
    field = getattr(request.scope.get("route"), "body_field", None)
    if field is None:
        return
    raw = await request.body()  # cached by the Request FastAPI already read the body from
    if not raw:
        return
    try:
        _adapter(field.field_info.annotation).validate_json(raw, strict=True)
    except pydantic.ValidationError as exc:
        raise body_invalid(exc) from None
