"""Settings, read from ``PROMPTEVOLVE_*`` environment variables, validated, and passed down.

Nothing is read at import time: ``load_settings()`` builds a ``Settings`` when a surface (CLI, API, SDK)
starts, and every part receives what it needs as arguments.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATABASE_URL", "Settings", "load_settings"]

DEFAULT_DATABASE_URL = "sqlite:///promptevolve.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTEVOLVE_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the store; SQLite in the working directory by default.",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description=(
            "Migrate an out-of-date database when it is opened. Unset: yes for SQLite (embedded use), "
            "no for server databases, where several processes start at once and a person should decide."
        ),
    )
    actor: str | None = Field(default=None, description="Who is recorded in the audit log.")
    db_connect_timeout_s: int = Field(
        default=2,
        ge=2,
        le=600,
        description=(
            "PostgreSQL: seconds to open a connection (libpq's minimum is 2), also the TCP user timeout "
            "after which a connection whose packets go unanswered is dropped."
        ),
    )
    db_statement_timeout_s: float = Field(
        default=30.0,
        ge=0.0,
        le=86_400.0,
        description="PostgreSQL: longest a statement may run (0: no limit). Migrations run without it.",
    )
    db_lock_timeout_s: float = Field(
        default=3.0,
        gt=0.0,
        le=3_600.0,
        description="Longest a statement waits for a lock: PostgreSQL's lock_timeout, SQLite's busy timeout.",
    )
    db_pool_timeout_s: float = Field(
        default=3.0, gt=0.0, le=600.0, description="Longest a caller waits for a free pooled connection."
    )
    default_provider: str = Field(default="local", description="Provider used when a variant names none.")
    otel: Literal["off", "on", "otlp"] = Field(
        default="off",
        description=(
            "OpenTelemetry spans of model calls (docs/telemetry.md): off; on = the application's tracer "
            "provider; otlp = promptevolve's own, exporting with OTLP/HTTP (OTEL_EXPORTER_OTLP_* settings)."
        ),
    )


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (``None`` values are ignored)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)  # type: ignore[arg-type]
