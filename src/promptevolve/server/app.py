"""``create_app``: the API and the dashboard in one ASGI app, for ``promptevolve serve``.

uvicorn imports ``promptevolve.server.app:create_app`` with ``factory=True``, so every worker process
builds its own app (and its own store, SDK and caches) when it starts; nothing is built at import. The
dashboard reads and acts only through the API, in process (it is given the API app, not its services),
so a page can never do what the key behind it may not.

Once the API's services are open, the objects built so far (imports, app, services) are frozen out of
Python's full garbage collections until the app stops (``server.heap``): walking them stopped the event
loop for 105–150 ms about once a second under load, the API's p99.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import RedirectResponse

from promptevolve.api import ApiSettings, create_api
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings
from promptevolve.dashboard import create_dashboard
from promptevolve.server.heap import frozen_startup_heap

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    api_settings: ApiSettings | None = None,
    providers: Mapping[str, Provider] | None = None,
) -> FastAPI:
    api = create_api(settings, api_settings=api_settings, providers=providers)
    dashboard = create_dashboard(api)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Starlette runs only the root app's lifespan: enter the API's (its services) from here.
        async with api.router.lifespan_context(api):
            with frozen_startup_heap():
                yield

    # FastAPI's OpenTelemetry hooks stay on the mounted API (and the dashboard): here they would report
    # every request twice, and checking whether a provider is configured costs each request ~2 %.
    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.mount("/api/v1", api)
    app.mount("/dashboard", dashboard)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/", status_code=307)

    return app
