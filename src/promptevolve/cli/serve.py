"""`promptevolve serve`: the API and the dashboard with uvicorn.

Before binding, the command opens the database (migrating SQLite, refusing a server database whose
schema is behind) and counts the API keys: with none, it refuses to listen on anything but a loopback
address (exit 2), since every endpoint would be either useless or, behind a misconfigured proxy,
exposed. uvicorn then builds the app in each worker from ``promptevolve.server.app:create_app``
(``factory=True``); the database URL and actor reach the workers through the environment.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

from promptevolve.access import KeyService
from promptevolve.cli.common import context_store, err_console, state_of
from promptevolve.core.errors import ConfigurationError
from promptevolve.jobs import load_job_settings

__all__ = ["is_loopback", "serve"]

APP = "promptevolve.server.app:create_app"
WORKER_HEALTHCHECK_S = 60


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (an unknown name is not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback needs an API key.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the REST API (/api/v1, docs at /api/v1/docs) and the dashboard (/dashboard)."""
    import uvicorn  # imported here: no other command should pay for loading the server

    settings = state_of(ctx).settings()
    load_job_settings()  # a bad PROMPTEVOLVE_JOBS_* value: exit 2 here, not a traceback in each worker
    with context_store(ctx) as (store, _):
        keys = KeyService(store).count_active()
    if keys == 0 and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve on {host}: no API key exists, so nobody could use the API. Create one "
            "(`promptevolve keys create --name admin --scopes admin`) or bind a loopback address "
            "(--host 127.0.0.1)"
        )
    if keys == 0:
        err_console.print(
            "warning: no API key exists; every endpoint but /api/v1/health and /api/v1/ready answers 401. "
            "Create one with `promptevolve keys create --name NAME --scopes read,execute,admin`."
        )
    os.environ["PROMPTEVOLVE_DATABASE_URL"] = settings.database_url
    if settings.actor:
        os.environ["PROMPTEVOLVE_ACTOR"] = settings.actor
    err_console.print(
        f"dashboard: http://{host}:{port}/dashboard/ · API docs: http://{host}:{port}/api/v1/docs"
    )
    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # A worker imports SciPy and opens the store before it answers the supervisor's pings; on a busy
        # machine that passes uvicorn's 5 s default and the worker is killed and restarted in a loop.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )
