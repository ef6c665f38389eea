"""A registered colour prompt, its dataset, and queues on a test store: what the job tests share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.api.support import COLOUR_TEMPLATE, colour_dataset, colour_model

from promptevolve.autopilot import AutopilotSettings
from promptevolve.core.types import ModelSettings
from promptevolve.jobs import EmbeddedQueue, JobDeps
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store

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
