"""`promptevolve jobs prune`: delete old finished background jobs and settled webhook deliveries.

The engines already prune by themselves once an hour (``jobs.retention``, after
``PROMPTEVOLVE_JOBS_RETENTION_DAYS``); ``prune`` is for an operator who wants it now, or a shorter
retention for once, or first to see what would go (``--dry-run`` counts and deletes nothing). Queued
and running jobs, and deliveries not yet sent, are never deleted.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from promptevolve.cli.autopilot import parse_duration
from promptevolve.cli.common import JsonOpt, console, context_store, print_json
from promptevolve.core.errors import ConfigurationError
from promptevolve.jobs import load_job_settings
from promptevolve.jobs.retention import Pruned, prune

__all__ = ["app"]

app = typer.Typer(
    help="Background jobs (evaluations, evolutions, autopilot passes, webhook deliveries).",
    no_args_is_help=True,
)


def _older_than_s(older_than: str | None) -> float:
    """``--older-than`` in seconds, else the retention setting's days."""
    if older_than is not None:
        return parse_duration(older_than, option="--older-than")
    days = load_job_settings().retention_days
    if days is None:
        raise ConfigurationError(
            "PROMPTEVOLVE_JOBS_RETENTION_DAYS keeps jobs forever (0 or none): give --older-than, e.g. 30d"
        )
    return days * 86_400.0


@app.command("prune")
def prune_jobs(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Delete what finished longer ago than this: 30d, 12h "
            "(default: PROMPTEVOLVE_JOBS_RETENTION_DAYS, 30 days).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete finished jobs and sent or abandoned webhook deliveries older than the retention."""
    seconds = _older_than_s(older_than)  # refused (exit 2) before the store is opened
    with context_store(ctx) as (store, _):
        done = prune(store, older_than_s=seconds, now=time.time(), dry_run=dry_run)
    if as_json:
        print_json(
            {
                "jobs": done.jobs,
                "deliveries": done.deliveries,
                "cutoff": done.cutoff.isoformat(),
                "dry_run": done.dry_run,
                "complete": done.complete,
            }
        )
        return
    console.print(_summary(done))


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _summary(done: Pruned) -> str:
    verb = "would delete" if done.dry_run else "deleted"
    deliveries = _count(done.deliveries, "webhook delivery", "webhook deliveries")
    line = (
        f"{verb} {_count(done.jobs, 'job')} and {deliveries} finished before "
        f"{done.cutoff.isoformat(timespec='seconds')}"
    )
    if not done.complete:
        line += " (stopped early: another process is pruning and deletes the rest)"
    return line
