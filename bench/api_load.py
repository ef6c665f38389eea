"""Throughput and tail latency of the HTTP API: ``POST /prompts/{name}/run`` (execute, scripted model)
and ``POST /executions/{id}/feedback``, served by ``promptevolve serve`` with 1 and 2 workers.

Question: how many calls per second does one machine serve over HTTP, and what does the slowest 1 %
wait? The model is taken out (the ``scripted`` provider answers at once), so the figures are the
layer's own cost: HTTP, auth, routing, rendering, and the commit of the execution row (``run`` answers
only once its execution is committed) or of the feedback row.

Besides requests/s and latency, each run prints the rows the store gained (``committed``: executions
for ``execute``, feedback rows for ``feedback``; it must be at least the requests answered, since
every 2xx was committed first) and the server's CPU time per request (all its processes, user +
system, from /proc): on a machine shared with other work, CPU per request is the figure that does not
depend on how much of the CPUs the server got.

The load comes from ``wrk`` (Debian's package: one thread, ``--connections`` open connections, a Lua
script per endpoint) when it is installed, else from an asyncio ``httpx`` generator; either runs in its
own process on the same loopback, so it shares the CPUs with the server (say so when quoting).

    python bench/api_load.py [--duration 30] [--workers 1 2] [--connections 16]
                             [--database sqlite|postgres] [--generator wrk|httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, text

from promptevolve.access import KeyService
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.migrate import open_store

POSTGRES = os.environ.get(
    "PROMPTEVOLVE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEMPLATE = "Summarise {{ company }} ({{ country }}) for a sales call in one line."


@dataclass(frozen=True)
class Result:
    endpoint: str
    workers: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int
    committed: int
    cpu_ms: float  # server CPU time per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepare(url: str) -> str:
    """Migrate, register and activate the bench prompt (scripted model); return an API key."""
    store = open_store(Settings(database_url=url, auto_migrate=True))
    registry = Registry(store, actor="bench")
    registry.register(
        VariantCreate(prompt="bench", template=TEMPLATE, settings=ModelSettings(provider="scripted"))
    )
    registry.activate("bench", "1.0.0")
    key = KeyService(store).create("bench", ["execute"]).key
    store.dispose()
    return key


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (uvicorn's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def count_rows(url: str, endpoint: str) -> int:
    table = "executions" if endpoint == "execute" else "feedback"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Server:
    base: str
    pid: int


@contextmanager
def server(url: str, workers: int) -> Iterator[Server]:
    port = _free_port()
    env = {**os.environ, "PROMPTEVOLVE_DATABASE_URL": url}
    command = [
        sys.executable,
        "-m",
        "promptevolve.cli.app",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    # The server logs to a file, not a pipe: nobody reads a pipe here, and a full one blocks the server.
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            yield Server(_wait_ready(f"http://127.0.0.1:{port}", log, workers), process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_ready(base: str, log: IO[str], workers: int) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/ready", timeout=1).status_code == 200:
                time.sleep(1.0 * workers)  # let every worker finish starting
                return base
        except httpx.TransportError:
            time.sleep(0.2)
    log.seek(0)
    raise RuntimeError(f"the server did not start:\n{log.read()[-4000:]}")


def run_body(i: int) -> dict[str, object]:
    return {"variables": {"company": f"Company {i}", "country": "FR"}, "unit_id": f"lead-{i}"}


def seed_executions(base: str, key: str, n: int) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers) as client:
        return [client.post("/prompts/bench/run", json=run_body(i)).json()["execution_id"] for i in range(n)]


# --- wrk ------------------------------------------------------------------------------------------

_LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"failures": %d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def _lua(endpoint: str, key: str, ids: list[str]) -> str:
    head = f'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer {key}"\n'
    head += 'wrk.headers["Content-Type"] = "application/json"\ncounter = 0\n'
    if endpoint == "execute":
        body = """request = function()
  counter = counter + 1
  return wrk.format(nil, "/api/v1/prompts/bench/run", nil,
    '{"variables": {"company": "Company ' .. counter .. '", "country": "FR"}, '
    .. '"unit_id": "lead-' .. counter .. '"}')
end
"""
    else:
        listing = ", ".join(f'"{i}"' for i in ids)
        body = f"""ids = {{{listing}}}
request = function()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  return wrk.format(nil, "/api/v1/executions/" .. id .. "/feedback", nil, '{{"thumbs": true, "rating": 4}}')
end
"""
    return head + body + _LUA_DONE


def load_wrk(base: str, endpoint: str, key: str, ids: list[str], seconds: float, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(endpoint, key, ids))
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{int(seconds)}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    raw = json.loads(line[len("RESULT ") :])
    return {
        "requests": raw["requests"],
        "seconds": raw["duration_us"] / 1e6,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "failures": raw["failures"],
    }


# --- httpx ----------------------------------------------------------------------------------------


async def _load_httpx(
    base: str, endpoint: str, key: str, ids: list[str], seconds: float, connections: int
) -> dict:
    latencies: list[float] = []
    failures = 0
    rng = random.Random(0)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=10
    ) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(w: int) -> None:
            nonlocal failures
            i = w * 10_000_000
            while time.perf_counter() < deadline:
                i += 1
                t = time.perf_counter()
                if endpoint == "execute":
                    r = await client.post("/prompts/bench/run", json=run_body(i))
                else:
                    r = await client.post(
                        f"/executions/{rng.choice(ids)}/feedback", json={"thumbs": True, "rating": 4}
                    )
                latencies.append(time.perf_counter() - t)
                failures += r.status_code >= 400

        await asyncio.gather(*(worker(w) for w in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "failures": failures,
    }


def measure(
    generator: str, base: str, endpoint: str, key: str, ids: list[str], seconds: float, connections: int
) -> dict:
    if generator == "wrk":
        return load_wrk(base, endpoint, key, ids, seconds, connections)
    return asyncio.run(_load_httpx(base, endpoint, key, ids, seconds, connections))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of measured load per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load first")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--generator", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx"
    )
    args = parser.parse_args()

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print(
        f"database: {args.database}; load: {args.generator}, {args.connections} connections, "
        f"{args.duration:g} s per run after {args.warmup:g} s warm-up; model: scripted (no model time)"
    )
    results: list[Result] = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp, database(args.database, Path(tmp)) as url:
            key = prepare(url)
            with server(url, workers) as srv:
                base = srv.base
                ids = seed_executions(base, key, 300)
                for endpoint in ("execute", "feedback"):
                    measure(args.generator, base, endpoint, key, ids, args.warmup, args.connections)
                    rows, cpu = count_rows(url, endpoint), cpu_seconds(srv.pid)
                    figures = measure(
                        args.generator, base, endpoint, key, ids, args.duration, args.connections
                    )
                    cpu = cpu_seconds(srv.pid) - cpu
                    time.sleep(0.5)  # requests wrk gave up on at the end may still commit
                    committed = count_rows(url, endpoint) - rows
                    cpu_ms = cpu * 1000 / max(figures["requests"], 1)
                    results.append(Result(endpoint, workers, **figures, committed=committed, cpu_ms=cpu_ms))
                    r = results[-1]
                    print(
                        f"  {endpoint:<8} workers={workers}: {r.rps:8.0f} req/s  p50 {r.p50_ms:7.1f} ms  "
                        f"p99 {r.p99_ms:7.1f} ms  ({r.requests} requests, {r.failures} failed, "
                        f"{r.committed} rows committed, server CPU {r.cpu_ms:.2f} ms/request)",
                        flush=True,
                    )
    print()
    print(
        "| endpoint | workers | requests/s | p50 (ms) | p99 (ms) | requests | failed | rows committed "
        "| server CPU ms/request |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        cells = [
            r.endpoint,
            r.workers,
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.requests:,}",
        ]
        cells += [r.failures, f"{r.committed:,}", f"{r.cpu_ms:.2f}"]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
