"""What a job is to its readers (the API, the dashboard, the CLI) and to the code that runs it.

A job is a row of the ``jobs`` table (``jobs.rows`` owns its reads and writes); ``JobInfo`` is that row
frozen. Its life::

    queued ──claim──▶ running ──▶ succeeded
       ▲                 │  ├───▶ failed     (a final error, attempts spent, or interrupted)
       │                 │  └───▶ cancelled  (asked: at once when queued, at a checkpoint when running)
       └── retry ────────┘       (a retryable error within max_attempts, after a backoff; a person's retry)

``JobDeps`` is what every kind needs to run, built once per process (the API's services or a worker),
never at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

from promptevolve.autopilot import AutopilotSettings
from promptevolve.core.protocols import Provider
from promptevolve.store.engine import Store

__all__ = ["FINAL", "UNFINISHED", "JobDeps", "JobInfo", "JobStatus"]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
#: States a job never leaves by itself (a person's retry may queue a failed or cancelled one again).
FINAL: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
#: A job still to run or running: its worker may yet act on it.
UNFINISHED: tuple[JobStatus, ...] = ("queued", "running")


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    kind: str
    status: JobStatus
    payload: Mapping[str, Any]
    actor: str
    progress: Mapping[str, Any] | None
    result: Mapping[str, Any] | None
    cancel_requested: bool
    error: str | None
    error_code: str | None
    attempts: int
    max_attempts: int
    run_after: float
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class JobDeps:
    """What the kinds run with: the store, the model providers (shared with the process's SDK), the
    autopilot's settings (webhook secret, attempts), and the cache invalidation of the registry."""

    store: Store
    providers: dict[str, Provider] = field(default_factory=dict)
    default_provider: str = "local"
    autopilot: AutopilotSettings = field(default_factory=AutopilotSettings)
    on_change: Callable[[str], None] | None = None
    #: Webhook posts go through it when given (tests use httpx's mock transport or a local server).
    transport: httpx.BaseTransport | None = None
