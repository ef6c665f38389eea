"""A stalled store makes the API answer 503 (problem+json naming the timeout) within seconds, not hang.

Issue 14, item 5: with PostgreSQL not answering, ``run``, ``whoami`` and ``ready`` waited 20 s and more
(psycopg's default connect timeout is 130 s; a lock has no default limit at all). Each test starts the
real server (uvicorn, a subprocess) and stalls its store for real:

- **blackhole**: the database URL points at a TCP listener on loopback that accepts connections and
  never says a word (what a hung server or a half-open firewall looks like to the client);
- **lock**: another PostgreSQL session holds ``ACCESS EXCLUSIVE`` locks on every table (what a
  migration or a stuck maintenance job does);
- **SQLite**: another connection holds the write lock; reads go on (WAL), a write waits the busy
  timeout and is refused.

The client gives up after ``CLIENT_TIMEOUT_S`` (15 s, five times the default bound of 3 s), so a request
that would hang fails the test; the latencies themselves are measured by ``bench/stalled_store.py``
(figures in RELIABILITY.md), not asserted here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import create_engine, text
from tests.api.support import make_keys, wait_for_health

from promptevolve.store.engine import Store

pytestmark = pytest.mark.slow

CLIENT_TIMEOUT_S = 15.0
PROBLEM = "application/problem+json"
FAKE_KEY = "pe_0123abcd_" + "a" * 43  # well formed: authentication has to ask the store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def blackhole() -> Iterator[int]:
    """A loopback TCP listener that accepts every connection and never reads or writes; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


@contextmanager
def served(database_url: str) -> Iterator[str]:
    """The real server on a free port with ``database_url``; its API base URL once /health answers."""
    port = _free_port()
    env = {**os.environ, "PROMPTEVOLVE_DATABASE_URL": database_url, "PROMPTEVOLVE_AUTO_MIGRATE": "0"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "promptevolve.server.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_for_health(process, base)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _assert_503(response: httpx.Response, setting: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == "store_unavailable" and setting in body["detail"], body


def _run_body() -> dict:
    return {"variables": {"x": "1"}, "unit_id": "u1"}


def test_a_store_that_accepts_and_never_answers_gives_503_on_ready_whoami_and_run() -> None:
    with blackhole() as port, served(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test") as base:
        auth = {"Authorization": f"Bearer {FAKE_KEY}"}
        with httpx.Client(timeout=CLIENT_TIMEOUT_S) as client:
            _assert_503(client.get(f"{base}/ready"), "PROMPTEVOLVE_DB_CONNECT_TIMEOUT_S")
            _assert_503(client.get(f"{base}/auth/whoami", headers=auth), "PROMPTEVOLVE_DB_CONNECT_TIMEOUT_S")
            response = client.post(f"{base}/prompts/p/run", json=_run_body(), headers=auth)
            _assert_503(response, "PROMPTEVOLVE_DB_CONNECT_TIMEOUT_S")


@contextmanager
def postgres_tables_locked(database_url: str) -> Iterator[None]:
    """Another session holds ACCESS EXCLUSIVE locks on every table of the test's schema."""
    engine = create_engine(database_url)
    conn = engine.connect()
    try:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        ).scalars()
        names = ", ".join(f'"{t}"' for t in tables)
        conn.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
        yield
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def test_a_postgres_lock_held_elsewhere_gives_503_on_ready_whoami_and_run(database_url, backend) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL locks; the SQLite variant is the next test")
    store = Store.from_url(database_url)
    keys = make_keys(store)
    store.dispose()
    auth = {"Authorization": f"Bearer {keys['admin']}"}
    with served(database_url) as base, httpx.Client(timeout=CLIENT_TIMEOUT_S) as client:
        with postgres_tables_locked(database_url):
            _assert_503(client.get(f"{base}/ready"), "PROMPTEVOLVE_DB_LOCK_TIMEOUT_S")
            _assert_503(client.get(f"{base}/auth/whoami", headers=auth), "PROMPTEVOLVE_DB_LOCK_TIMEOUT_S")
            response = client.post(f"{base}/prompts/p/run", json=_run_body(), headers=auth)
            _assert_503(response, "PROMPTEVOLVE_DB_LOCK_TIMEOUT_S")
        assert client.get(f"{base}/ready").status_code == 200, "the lock released: the store serves again"
        assert client.get(f"{base}/auth/whoami", headers=auth).status_code == 200


def test_a_sqlite_write_lock_held_elsewhere_refuses_writes_with_503_and_reads_go_on(
    database_url, backend
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's write lock; PostgreSQL is the test above")
    store = Store.from_url(database_url)
    keys = make_keys(store)
    store.dispose()
    auth = {"Authorization": f"Bearer {keys['admin']}"}
    body = {"prompt": "p", "template": "Hello {{ x }}", "settings": {"provider": "scripted"}}
    with served(database_url) as base, httpx.Client(timeout=CLIENT_TIMEOUT_S) as client:
        assert client.get(f"{base}/auth/whoami", headers=auth).status_code == 200  # its key-use write done
        holder = create_engine(database_url).raw_connection()
        try:
            holder.driver_connection.isolation_level = None
            holder.driver_connection.execute("BEGIN IMMEDIATE")
            assert client.get(f"{base}/ready").status_code == 200, "readers never wait under WAL"
            assert client.get(f"{base}/auth/whoami", headers=auth).status_code == 200
            _assert_503(client.post(f"{base}/variants", json=body, headers=auth), "LOCK_TIMEOUT")
        finally:
            holder.driver_connection.execute("ROLLBACK")
            holder.close()
        assert client.post(f"{base}/variants", json=body, headers=auth).status_code == 201
