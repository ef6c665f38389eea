"""An acknowledged call is stored: every ``run`` answered with ``recorded: true`` and every feedback
answered 201 is in the database afterwards, even when the server is killed (SIGKILL) under load."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

from promptevolve.access import KeyService
from promptevolve.core.types import ModelSettings
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.tables import Execution, Feedback

CONNECTIONS = 8


@dataclass
class Acknowledged:
    executions: set[str] = field(default_factory=set)
    feedback: set[str] = field(default_factory=set)


def prepare(url: str) -> str:
    store = Store.from_url(url)
    registry = Registry(store, actor="test")
    registry.register(
        VariantCreate(
            prompt="lead", template="Pitch {{ company }}.", settings=ModelSettings(provider="scripted")
        )
    )
    registry.activate("lead", "1.0.0")
    key = KeyService(store).create("load", ["execute"]).key
    store.dispose()
    return key


@contextmanager
def server(url: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PROMPTEVOLVE_DATABASE_URL": url, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "promptevolve.cli.app", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"the server did not start:\n{log.read_text()[-3000:]}")
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def load_until_killed(base: str, key: str, process: subprocess.Popen[bytes]) -> Acknowledged:
    """Run + feedback from several connections; SIGKILL the server once calls are being answered."""
    acked = Acknowledged()
    headers = {"Authorization": f"Bearer {key}"}

    async def connection(client: httpx.AsyncClient, n: int) -> None:
        i = 0
        while True:
            i += 1
            try:
                run = await client.post(
                    "/prompts/lead/run", json={"variables": {"company": f"C{n}-{i}"}, "unit_id": f"{n}-{i}"}
                )
                if run.status_code != 200 or not run.json()["recorded"]:
                    continue
                acked.executions.add(run.json()["execution_id"])
                sent = await client.post(
                    f"/executions/{run.json()['execution_id']}/feedback", json={"thumbs": True}
                )
                if sent.status_code == 201:
                    acked.feedback.update(sent.json()["feedback_ids"])
            except httpx.TransportError:
                return  # the server is gone

    async def killer() -> None:
        while len(acked.feedback) < 100:
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # mid-load: requests are in flight on every connection

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
        await asyncio.gather(killer(), *(connection(client, n) for n in range(CONNECTIONS)))
    return acked


def test_every_acknowledged_call_is_stored_after_the_server_is_killed(
    database_url: str, tmp_path: Path
) -> None:
    key = prepare(database_url)
    with server(database_url, tmp_path / "server.log") as (process, base):
        acked = asyncio.run(load_until_killed(base, key, process))
        assert process.wait(timeout=10) == -signal.SIGKILL

    store = Store.from_url(database_url)
    with store.read() as s:
        executions = set(s.scalars(select(Execution.id)))
        feedback = set(s.scalars(select(Feedback.id)))
    store.dispose()
    assert len(acked.feedback) >= 100
    assert acked.executions <= executions, f"{len(acked.executions - executions)} acknowledged runs lost"
    assert acked.feedback <= feedback, f"{len(acked.feedback - feedback)} acknowledged feedback lost"
