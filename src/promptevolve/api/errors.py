"""Errors as ``application/problem+json`` (RFC 9457), mapped from the one exception tree in one place.

``STATUS_BY_ERROR`` is the whole mapping; the most specific class wins (it is searched along the
exception's MRO). Every body is a ``Problem``: ``type`` (a URN naming the error's ``code``), ``title``
(the HTTP reason), ``status``, ``detail`` (the library's message, which names the thing at fault and the
fix), ``code`` (``PromptevolveError.code``) and, for malformed requests, ``errors`` (one per field).
``problem_responses(...)`` documents the same shape for each status a route can answer, so the
OpenAPI spec says what an error looks like wherever one can happen.

A value the database refuses (``StoreValueError``, translated by the store) is the request's fault: 422.
Unexpected exceptions become a 500 problem without internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from promptevolve.access import AuthenticationError, PermissionDeniedError
from promptevolve.core.errors import (
    BudgetExceededError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PromptevolveError,
    ProviderError,
    ProviderTimeoutError,
    SchemaOutOfDateError,
    StoreError,
    StoreUnavailableError,
    StoreValueError,
    ValidationError,
)

__all__ = [
    "PROBLEM_JSON",
    "STATUS_BY_ERROR",
    "FieldProblem",
    "Problem",
    "body_invalid",
    "install_error_handlers",
    "problem_response",
    "problem_responses",
    "status_for",
]

logger = logging.getLogger("promptevolve.api")

PROBLEM_JSON = "application/problem+json"

#: The one mapping from the exception tree to HTTP statuses (most specific class first is not needed:
#: ``status_for`` walks the MRO).
STATUS_BY_ERROR: dict[type, int] = {
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,  # DuplicateVersionError, TrafficShareError
    ValidationError: 422,  # VersionFormatError, TemplateError, MissingVariableError
    BudgetExceededError: 422,
    ConfigurationError: 422,  # e.g. a variant naming a provider that is not installed
    StoreUnavailableError: 503,
    SchemaOutOfDateError: 503,
    StoreError: 500,
    StoreValueError: 422,  # the database refused a value (a number out of range): the request's fault
    ProviderTimeoutError: 504,
    ProviderError: 502,
    PromptevolveError: 400,
}


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query or path, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field(description="URN of the error kind: urn:promptevolve:problem:<code>")
    title: str = Field(description="The HTTP status phrase")
    status: int
    detail: str = Field(description="What is wrong and, where there is one, how to fix it")
    code: str = Field(description="Machine-readable error code")
    instance: str | None = Field(default=None, description="The request path")
    errors: list[FieldProblem] | None = Field(default=None, description="Per-field problems (422)")


def status_for(exc: PromptevolveError) -> tuple[int, str]:
    """(HTTP status, problem code) of a library error."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status, exc.code
    return 400, exc.code


def problem_response(
    status: int,
    detail: str,
    code: str,
    *,
    instance: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"urn:promptevolve:problem:{code}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        instance=instance,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


_DESCRIPTIONS = {
    400: "Refused request",
    401: "Missing, malformed, unknown or revoked API key",
    403: "The API key lacks the scope this operation needs",
    404: "Unknown resource",
    409: "Conflicts with the current state (duplicate version, shares over 100 %, wrong status)",
    413: "Request body larger than the server's limit",
    422: "Malformed or invalid input",
    500: "Internal error",
    502: "The model provider failed",
    503: "The store is unreachable or its schema is out of date",
    504: "The model provider timed out",
}


_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer realm", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, each a ``Problem`` as problem+json only."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        out[status] = entry
    return out


def _field_problems(errors: list[Any]) -> list[FieldProblem]:
    return [
        FieldProblem(
            loc=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())], msg=e["msg"], type=e["type"]
        )
        for e in errors
    ]


def _summary(problems: list[FieldProblem]) -> str:
    parts = [f"{'.'.join(str(p) for p in fp.loc) or 'input'}: {fp.msg}" for fp in problems[:10]]
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return "invalid input: " + "; ".join(parts) + more


def body_invalid(exc: pydantic.ValidationError) -> RequestValidationError:
    """A library's check of a body's content (the merged autopilot policy, say) as a malformed body: the
    same 422 as FastAPI's own checks, each location under ``body``."""
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PromptevolveError)
    status, code = status_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="promptevolve"'
    if status == 503:
        headers["Retry-After"] = "5"
    if status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
    return problem_response(status, str(exc), code, instance=request.url.path, headers=headers or None)


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | pydantic.ValidationError)
    problems = _field_problems(list(exc.errors()))
    return problem_response(422, _summary(problems), "validation", instance=request.url.path, errors=problems)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route answers at this path. Starlette's 405 names only the methods of the first
    route whose path matched, but FastAPI makes one route per method: ``GET`` and ``POST /experiments``
    are two routes, and a ``DELETE`` there must answer ``Allow: GET, POST``. Asking each route whether
    it fully matches each method is the router's own test, so path parameters match as they route."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def _unparsable_body(request: Request) -> JSONResponse:
    problem = FieldProblem(loc=["body"], msg="the body is not UTF-8 JSON", type="json_invalid")
    return problem_response(
        422, _summary([problem]), "validation", instance=request.url.path, errors=[problem]
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode at all (not UTF-8); JSON that does not parse is
        # already a 422 ``json_invalid``, so both malformed bodies get the same documented answer.
        return _unparsable_body(request)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status_code, "http")
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such endpoint: {request.method} {request.url.path} (see /api/v1/docs)"
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
        detail = f"{request.method} is not allowed on {request.url.path}: use {headers['Allow']}"
    return problem_response(exc.status_code, detail, code, instance=request.url.path, headers=headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500,
        f"internal error ({type(exc).__name__}); the server log has the details",
        "internal",
        instance=request.url.path,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping on ``app``: library errors, invalid requests, HTTP errors, the rest."""
    app.add_exception_handler(PromptevolveError, _library_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(pydantic.ValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
