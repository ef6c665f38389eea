"""How fast each job engine turns a deferred job into a finished one, and how soon a dead worker's job
is settled.

Question: with N trivial jobs (an autopilot pass over no prompt: the engine's own cost, no model) deferred
at once, how many finish per second and how long from defer to succeeded (median, p95), for the embedded
runner (one thread, in process) on SQLite and on PostgreSQL, and for procrastinate with two
``promptevolve worker`` processes on PostgreSQL? And, with the default settings
(``PROMPTEVOLVE_JOBS_STALLED_S=30``), how long after a worker is killed (SIGKILL) mid-job is its job
failed with the reason (``--kill``)?

    python bench/jobs_engines.py [--jobs 200] [--kill]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from promptevolve.jobs import EmbeddedQueue, JobDeps, JobQueue, JobSettings  # noqa: E402
from promptevolve.store.engine import Store  # noqa: E402
from promptevolve.store.migrate import upgrade  # noqa: E402

POSTGRES = os.environ.get(
    "PROMPTEVOLVE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _schema_url(schema: str) -> str:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
    store = Store.from_url(url)
    upgrade(store)
    store.dispose()
    return url


def _drop(schema: str) -> None:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _measure(queue: JobQueue, n: int) -> dict[str, float]:
    started = time.perf_counter()
    jobs = [queue.defer("autopilot_pass", {"prompts": []}, actor="bench") for _ in range(n)]
    while True:
        _, total = queue.list(status="succeeded", limit=1)
        if total >= n:
            break
        time.sleep(0.01)
    wall = time.perf_counter() - started
    latencies = []
    for job in jobs:
        info = queue.get(job.id)
        assert info.status == "succeeded" and info.attempts == 1 and info.finished_at is not None
        latencies.append((info.finished_at - info.created_at).total_seconds())
    latencies.sort()
    return {
        "jobs_per_s": n / wall,
        "median_s": statistics.median(latencies),
        "p95_s": latencies[int(0.95 * (len(latencies) - 1))],
    }


def _workers(url: str, n: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PROMPTEVOLVE_DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "promptevolve.cli.app", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]
    store = Store.from_url(url)
    try:
        while True:
            with store.engine.connect() as conn:
                if conn.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is not None:
                    count = conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar_one()
                    if count >= n:
                        return procs
            time.sleep(0.2)
    finally:
        store.dispose()


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)


def embedded(url: str, n: int) -> dict[str, float]:
    store = Store.from_url(url)
    queue = EmbeddedQueue(JobDeps(store=store), poll_s=1.0)
    queue.start()
    try:
        return _measure(queue, n)
    finally:
        queue.close()
        store.dispose()


def procrastinate(url: str, n: int) -> dict[str, float]:
    from promptevolve.jobs.procrastinate_engine import ProcrastinateQueue

    store = Store.from_url(url)
    queue = ProcrastinateQueue(JobDeps(store=store), settings=JobSettings(engine="procrastinate"))
    queue.start()
    procs = _workers(url, 2)
    try:
        return _measure(queue, n)
    finally:
        _stop(procs)
        queue.close()
        store.dispose()


def kill_to_failed(url: str) -> float:
    """Seconds from SIGKILL of the worker running an evaluation to the job failed with the reason, with
    the default settings (the workers of tests/jobs/worker_process.py: a scripted model taking 0.5 s a
    call, so the evaluation runs for about 12 s)."""
    from tests.jobs.support import colour_lab

    from promptevolve.jobs.procrastinate_engine import ProcrastinateQueue

    store = Store.from_url(url)
    with tempfile.TemporaryDirectory() as tmp:
        colour_lab(store, Path(tmp))
    queue = ProcrastinateQueue(JobDeps(store=store), settings=JobSettings(engine="procrastinate"))
    queue.start()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    command = [sys.executable, "-m", "tests.jobs.worker_process", url, "0.5", "defaults"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        job = queue.defer(
            "evaluate", {"prompt": "colours", "dataset": "colours", "split": "train"}, actor="b"
        )
        while (queue.get(job.id).progress or {}).get("calls", 0) < 2:
            time.sleep(0.05)
        worker = queue.get(job.id).worker or ""
        os.kill(int(worker.split(":")[1]), signal.SIGKILL)
        killed = time.perf_counter()
        while queue.get(job.id).status != "failed":
            time.sleep(0.1)
        print(f"  reason: {queue.get(job.id).error}")
        return time.perf_counter() - killed
    finally:
        _stop(procs)
        queue.close()
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--kill", action="store_true", help="also time a killed worker's job (about 40 s)")
    parser.add_argument("--only-kill", action="store_true", help="only the killed worker's job")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()}")
    schemas: list[str] = []
    try:
        if args.only_kill:
            schemas.append(f"bench_jobs_{uuid.uuid4().hex[:8]}")
            seconds = kill_to_failed(_schema_url(schemas[-1]))
            print(f"a killed worker's job failed with the reason after {seconds:.1f} s (stalled_s 30)")
            return
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(Store.from_url(sqlite))
            rows_out = [("embedded, SQLite, 1 thread", embedded(sqlite, args.jobs))]
        schemas.append(f"bench_jobs_{uuid.uuid4().hex[:8]}")
        rows_out.append(("embedded, PostgreSQL, 1 thread", embedded(_schema_url(schemas[-1]), args.jobs)))
        schemas.append(f"bench_jobs_{uuid.uuid4().hex[:8]}")
        rows_out.append(
            ("procrastinate, PostgreSQL, 2 workers", procrastinate(_schema_url(schemas[-1]), args.jobs))
        )
        print(f"{args.jobs} trivial jobs deferred at once:")
        for name, r in rows_out:
            print(
                f"  {name:38s} {r['jobs_per_s']:7.1f} jobs/s   defer→done median {r['median_s']:.3f} s, "
                f"p95 {r['p95_s']:.3f} s"
            )
        if args.kill:
            schemas.append(f"bench_jobs_{uuid.uuid4().hex[:8]}")
            seconds = kill_to_failed(_schema_url(schemas[-1]))
            print(f"a killed worker's job failed with the reason after {seconds:.1f} s (stalled_s 30)")
    finally:
        for schema in schemas:
            _drop(schema)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
