"""How long does the API take to answer when its store stalls, and what does it answer?

Question (issue 14, item 5): with PostgreSQL not answering, or holding a lock, do ``/ready``,
``/auth/whoami`` and ``/prompts/{name}/run`` fail fast with 503, and how fast? The real server
(uvicorn, one worker, default ``PROMPTEVOLVE_DB_*`` timeouts) is started on a stalled store:

- ``blackhole``: the database URL points at a loopback TCP listener that accepts and never answers;
- ``pg-lock``: another session holds ACCESS EXCLUSIVE locks on every table of a migrated schema;

then each endpoint is called ``--rounds`` times one after the other, and once with ``--concurrency``
requests at the same time (more than the pool's 15 connections, so the pool's wait is exercised too).
Prints the status codes and the latency (median, max) per endpoint; the client gives up at 60 s.

    python bench/stalled_store.py [--rounds 5] [--concurrency 24]

Reuses the test's blackhole listener and server launcher (``tests/api/test_stalled_store.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.api.test_stalled_store import (
    FAKE_KEY,
    blackhole,
    postgres_tables_locked,
    served,
)

from promptevolve.access import KeyService
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade

POSTGRES = os.environ.get(
    "PROMPTEVOLVE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENDPOINTS = (("GET", "/ready"), ("GET", "/auth/whoami"), ("POST", "/prompts/p/run"))


def _call(client: httpx.Client, base: str, method: str, path: str, key: str) -> tuple[str, float]:
    start = time.perf_counter()
    try:
        response = client.request(
            method,
            f"{base}{path}",
            headers={"Authorization": f"Bearer {key}"},
            json={"variables": {"x": "1"}} if method == "POST" else None,
        )
        outcome = str(response.status_code)
    except httpx.TimeoutException:
        outcome = "client timeout"
    return outcome, time.perf_counter() - start


def _measure(base: str, key: str, rounds: int, concurrency: int) -> None:
    with httpx.Client(timeout=60) as client:
        for method, path in ENDPOINTS:
            results = [_call(client, base, method, path, key) for _ in range(rounds)]
            _report(f"{method} {path} x{rounds} sequential", results)
    with ThreadPoolExecutor(concurrency) as pool, httpx.Client(timeout=60) as client:
        jobs = [pool.submit(_call, client, base, *ENDPOINTS[i % 3], key) for i in range(concurrency)]
        _report(f"all three, {concurrency} at once", [j.result() for j in jobs])


def _report(label: str, results: list[tuple[str, float]]) -> None:
    codes = Counter(code for code, _ in results)
    times = [t for _, t in results]
    print(
        f"  {label:38s} {dict(codes)}  median {statistics.median(times):.2f} s  max {max(times):.2f} s",
        flush=True,
    )


def _schema() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=24)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, load average {os.getloadavg()}")
    print("blackhole (accepts, never answers):")
    with blackhole() as port, served(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test") as base:
        _measure(base, FAKE_KEY, args.rounds, args.concurrency)
    schema, url = _schema()
    try:
        store = Store.from_url(url)
        upgrade(store)
        key = KeyService(store).create("bench", ["admin"]).key
        store.dispose()
        print("pg-lock (ACCESS EXCLUSIVE on every table, held by another session):")
        with ExitStack() as stack:
            base = stack.enter_context(served(url))
            stack.enter_context(postgres_tables_locked(url))
            _measure(base, key, args.rounds, args.concurrency)
    finally:
        with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
