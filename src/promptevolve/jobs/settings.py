"""Which engine runs the jobs, and how (``PROMPTEVOLVE_JOBS_*``), read when a surface starts.

``engine=embedded`` (the default): threads of each ``serve`` process run the jobs. ``engine=procrastinate``:
``serve`` only stores and defers jobs, and ``promptevolve worker`` processes (on any machine reaching the
PostgreSQL) run them; it needs PostgreSQL and the ``workers`` extra (``pip install
'promptevolve[workers]'``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic import ValidationError as SettingsError
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptevolve.core.errors import ConfigurationError
from promptevolve.jobs.embedded import EmbeddedQueue
from promptevolve.jobs.models import JobDeps
from promptevolve.jobs.queue import JobQueue
from promptevolve.jobs.retention import Pruner

__all__ = ["JobSettings", "load_job_settings", "open_queue"]


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTEVOLVE_JOBS_", extra="ignore")

    engine: Literal["embedded", "procrastinate"] = Field(
        default="embedded", description="embedded: threads of serve; procrastinate: promptevolve worker"
    )
    threads: int = Field(default=1, ge=1, le=16, description="Jobs run at once by the embedded engine")
    poll_s: float = Field(default=1.0, gt=0, le=60, description="How often idle runners look for work")
    heartbeat_s: float = Field(default=5.0, gt=0, le=60, description="How often a running job says it lives")
    stalled_s: float = Field(
        default=30.0, gt=0, description="A running job silent this long belongs to a dead worker"
    )
    retention_days: int | None = Field(
        default=30, ge=1, description="Days finished jobs are kept; none (or 0) keeps them forever"
    )

    @field_validator("retention_days", mode="before")
    @classmethod
    def _forever(cls, value: object) -> object:
        """``0`` and ``none`` (as an operator writes them in the environment) mean "keep forever": None."""
        if isinstance(value, str) and value.strip().lower() in ("0", "none"):
            return None
        return None if value == 0 else value


def load_job_settings(**overrides: object) -> JobSettings:
    """The settings from ``PROMPTEVOLVE_JOBS_*`` and ``overrides``; a bad value names its variable.

    pydantic's own message names the field (``engine``), not the environment variable a user set, and
    surfaces would print it as a traceback: it becomes a ``ConfigurationError`` (exit 2 on the CLI).
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return JobSettings(**given)  # type: ignore[arg-type]
    except SettingsError as exc:
        problems = "; ".join(
            f"PROMPTEVOLVE_JOBS_{str(error['loc'][0]).upper()}={error.get('input')!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"bad job settings: {problems}") from None


def open_queue(deps: JobDeps, settings: JobSettings) -> JobQueue:
    """The configured engine's queue (not started)."""
    if settings.engine == "embedded":
        return EmbeddedQueue(
            deps,
            threads=settings.threads,
            poll_s=settings.poll_s,
            heartbeat_s=settings.heartbeat_s,
            stalled_s=settings.stalled_s,
            pruner=Pruner.from_settings(deps.store, settings),
        )
    if deps.store.dialect != "postgresql":
        raise ConfigurationError(
            "PROMPTEVOLVE_JOBS_ENGINE=procrastinate needs PostgreSQL (PROMPTEVOLVE_DATABASE_URL="
            "postgresql+psycopg://…); with SQLite use the embedded engine"
        )
    try:
        from promptevolve.jobs.procrastinate_engine import ProcrastinateQueue  # the optional extra
    except ImportError:
        raise ConfigurationError(
            "PROMPTEVOLVE_JOBS_ENGINE=procrastinate needs procrastinate: pip install 'promptevolve[workers]'"
        ) from None
    return ProcrastinateQueue(deps, settings=settings)
