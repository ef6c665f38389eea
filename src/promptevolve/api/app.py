"""The API app: routers, the error mapping, the body limit and the OpenAPI document.

``create_api`` builds the app and nothing else; its lifespan opens the services (store, SDK, …) when the
app starts and closes them when it stops, so importing this module opens nothing and two apps never
share state. The composition root (``promptevolve.server``) mounts it at ``/api/v1``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from promptevolve.api.errors import Problem, install_error_handlers, problem_responses
from promptevolve.api.limits import BodyLimitMiddleware
from promptevolve.api.routers import (
    autopilot,
    evolution,
    executions,
    experiments,
    health,
    jobs,
    metrics,
    prompts,
    scoring,
    sessions,
    variants,
)
from promptevolve.api.routers.health import package_version
from promptevolve.api.services import ApiSettings, open_services
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings, load_settings

__all__ = ["create_api"]

DESCRIPTION = """\
The promptevolve API: run prompts, record calls and feedback, manage the prompt registry, run A/B
experiments and evolution, read metrics, set the autopilot's policies and follow what it does.

**Auth**: every operation but `/health` and `/ready` needs an API key (`promptevolve keys create`) sent
as `Authorization: Bearer pe_…`, with the scope named in brackets in each summary: `read`, `execute` or
`admin` (admin includes the others). A missing or invalid key is a 401 with `WWW-Authenticate`; a key
without the scope is a 403. A session token (`ps_…`, from `POST /auth/sessions`, what the dashboard's
cookie holds) acts as the key that opened it until it expires, is closed, or the key is revoked.

**Errors** are `application/problem+json` (RFC 9457) with a `detail` that says what is wrong and how to
fix it, and a machine-readable `code`; a 405 names the path's methods in `Allow`. Bodies are held to
their schema as JSON (no coercion of `true` or `"5"` into a number): anything else is a 422.

**Lists** take `limit` (1–500, default 50) and `offset` and answer `{items, total, limit, offset, next}`.
"""


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the ``Problem`` schema that every error response refers to."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    problem = TypeAdapter(Problem).json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    app.openapi_schema = schema
    return schema


def create_api(
    settings: Settings | None = None,
    *,
    api_settings: ApiSettings | None = None,
    providers: Mapping[str, Provider] | None = None,
) -> FastAPI:
    """The API app. ``providers`` replaces providers by name (tests pass a ``ScriptedProvider``)."""
    limits = api_settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(
            open_services, settings or load_settings(), limits, providers=providers
        )
        app.state.services = services
        try:
            yield
        finally:
            await services.commits.aclose()  # on the loop its writer runs on
            await run_in_threadpool(services.close)

    app = FastAPI(
        title="promptevolve API",
        version=package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.include_router(health.router)
    for module in (
        sessions,
        executions,
        prompts,
        scoring,
        variants,
        experiments,
        evolution,
        jobs,
        metrics,
        autopilot,
    ):
        # Every operation behind a key reads the store to check it: each may answer 503.
        app.include_router(module.router, responses=problem_responses(503))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
