"""A registered colour prompt, its dataset, queues on a test store, and job and outbox rows of a given age:
what the job tests share."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.api.support import COLOUR_TEMPLATE, colour_dataset, colour_model

from promptevolve.autopilot import AutopilotSettings
from promptevolve.core.types import ModelSettings
from promptevolve.jobs import EmbeddedQueue, JobDeps
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.tables import JobRow, WebhookDelivery

SECRET = "s3cret-for-tests"


def colour_lab(store: Store, tmp_path: Path, *, latency_s: float = 0.0) -> ScriptedProvider:
    """The ``colours`` prompt served by a scripted model (really waiting ``latency_s`` per call) and the
    ``colours`` dataset of 40 items."""
    provider = ScriptedProvider(colour_model, latency_s=latency_s, sleep=latency_s > 0)
    registry = Registry(store, actor="test")
    registry.register(
        VariantCreate(prompt="colours", template=COLOUR_TEMPLATE, settings=ModelSettings(provider="colour"))
    )
    registry.activate("colours", "1.0.0")
    colour_dataset(store, tmp_path / "colours.jsonl")
    return provider


def deps(store: Store, provider: ScriptedProvider | None = None, **autopilot: Any) -> JobDeps:
    settings = AutopilotSettings(webhook_secret=SECRET, **autopilot)
    return JobDeps(store=store, providers={"colour": provider or ScriptedProvider()}, autopilot=settings)


def queue(store: Store, provider: ScriptedProvider | None = None, **options: Any) -> EmbeddedQueue:
    options.setdefault("poll_s", 0.05)
    options.setdefault("heartbeat_s", 0.1)
    return EmbeddedQueue(deps(store, provider), **options)


def dead_pid() -> int:
    """The pid of a process that has exited (a worker that was killed)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- rows of a given age, for the retention tests -------------------------------------------------

DAY = 86_400.0
NOW = time.time()


def made_at(age_s: float) -> tuple[str, datetime]:
    """An id and a time ``age_s`` seconds ago (ids start with their creation time in milliseconds)."""
    at = NOW - age_s
    return f"{int(at * 1000):012x}{secrets.token_hex(10)}", datetime.fromtimestamp(at, UTC)


def job(store: Store, status: str, *, age_days: float, finished: bool = True) -> str:
    """A job made and (when ``finished``) finished ``age_days`` ago."""
    job_id, at = made_at(age_days * DAY)
    with store.write() as s:
        s.add(
            JobRow(
                id=job_id,
                kind="evaluate",
                status=status,
                payload={},
                actor="test",
                cancel_requested=False,
                attempts=1,
                max_attempts=1,
                run_after=0.0,
                worker="host:1:abc" if status == "running" else None,
                heartbeat_at=NOW if status == "running" else None,
                created_at=at,
                started_at=at,
                finished_at=at if finished else None,
            )
        )
    return job_id


def delivery(store: Store, status: str, *, age_days: float, job_id: str | None = None) -> str:
    """An outbox row made (and, when delivered, delivered) ``age_days`` ago."""
    delivery_id, at = made_at(age_days * DAY)
    with store.write() as s:
        s.add(
            WebhookDelivery(
                id=delivery_id,
                url="http://127.0.0.1:9/hook",
                event="ramp_step",
                body="{}",
                secret_env="PROMPTEVOLVE_WEBHOOK_SECRET",
                status=status,
                attempts=1 if status != "pending" else 0,
                job_id=job_id,
                created_at=at,
                delivered_at=at if status == "delivered" else None,
            )
        )
    return delivery_id


def job_ids(store: Store) -> set[str]:
    with store.read() as s:
        return set(s.scalars(select(JobRow.id)))


def delivery_ids(store: Store) -> set[str]:
    with store.read() as s:
        return set(s.scalars(select(WebhookDelivery.id)))
