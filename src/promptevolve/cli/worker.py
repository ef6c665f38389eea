"""`promptevolve worker`: run background jobs from PostgreSQL with procrastinate, on any machine.

With ``PROMPTEVOLVE_JOBS_ENGINE=procrastinate`` the ``serve`` processes only store and defer jobs;
workers run them: evaluations, evolutions, autopilot passes and webhook deliveries. Start as many as
the machines allow; each job runs on one of them, a worker killed mid-run is found by the others (its
heartbeat stops) and its job is retried or failed with the reason (docs/deploy.md). SIGINT or SIGTERM
stops a worker after the jobs it is running.
"""

from __future__ import annotations

from typing import Annotated

import typer

from promptevolve.autopilot import load_autopilot_settings
from promptevolve.cli.common import context_store, err_console
from promptevolve.core.errors import ConfigurationError
from promptevolve.jobs import JobDeps, load_job_settings

__all__ = ["worker"]


def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Jobs this worker runs at once.")] = 1,
) -> None:
    """Run background jobs (procrastinate on PostgreSQL) until SIGINT or SIGTERM."""
    with context_store(ctx) as (store, settings):
        if store.dialect != "postgresql":
            raise ConfigurationError(
                "promptevolve worker needs PostgreSQL (--database-url postgresql+psycopg://…); with "
                "SQLite, `promptevolve serve` runs the jobs itself"
            )
        try:
            from promptevolve.jobs.procrastinate_engine import run_worker
        except ImportError:
            raise ConfigurationError(
                "promptevolve worker needs procrastinate: pip install 'promptevolve[workers]'"
            ) from None
        deps = JobDeps(
            store=store, default_provider=settings.default_provider, autopilot=load_autopilot_settings()
        )
        err_console.print(f"worker: jobs from {store.engine.url.render_as_string(hide_password=True)}")
        run_worker(deps, load_job_settings(engine="procrastinate"), concurrency=concurrency)
