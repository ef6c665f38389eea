"""Executions written per second by the batch writer, on SQLite and PostgreSQL.

Question: how many execution rows a second can the tracking path store? The SDK's ``Recorder`` takes
realistic rows (ids, variant, arm, hashes, a 200-character output, four variables, tokens, cost), built
beforehand as the SDK builds them per call, enqueued as fast as one thread can, and writes them in
batches (executemany on SQLite, COPY on PostgreSQL); the clock runs from the first enqueue to the
moment the last row is committed, in one process (the enqueueing thread and the writer share the GIL).
Printed besides rows/s: the client's CPU per row (both threads) and, on PostgreSQL when the server runs
on this machine, the server's (its backends' CPU from /proc): the figures a shared machine's load does
not decide, whose larger one bounds rows/s on an idle machine with a core for each side.

    python bench/ingest.py [--rows 1000000] [--batch 5000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid

from sqlalchemy import create_engine, func, select, text

from promptevolve.core.hashing import canonical_json
from promptevolve.core.ids import new_id
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade
from promptevolve.store.tables import Execution
from promptevolve.store.writes import JsonText
from promptevolve.tracking.recorder import Recorder
from promptevolve.tracking.records import ExecutionRecord

OUTPUT = (
    '{"industry": "software", "size_band": "11-50", "ai_maturity": 4, "growth_signals": ["hiring"], '
    '"recommended_pitch": "Automate contract review with AI to close deals faster."}'
)


def rows(n: int, prompt_id: int, variant_id: int, experiment: bool):
    now = time.time()
    for i in range(n):
        arm = ("control", "treatment")[i % 2] if experiment else None
        yield ExecutionRecord(
            id=new_id(),
            prompt_id=prompt_id,
            variant_id=variant_id,
            experiment_id=1 if experiment else None,
            arm=arm,
            unit_hash=f"{i:032x}",
            variables_hash=f"{i:064x}",
            # As the SDK queues them: the canonical JSON text it hashed, which the writer stores as is.
            variables=JsonText(
                canonical_json(
                    {
                        "company_name": f"Company {i}",
                        "website": "example.com",
                        "country": "FR",
                        "description": "A mid-sized company.",
                    }
                )
            ),
            output=OUTPUT,
            model="smollm2-135m-instruct",
            latency_ms=812.5,
            prompt_tokens=765,
            completion_tokens=96,
            cost_usd=0.0,
            status="ok",
            fallback_reason=None,
            error_class=None,
            error_message=None,
            source="run",
            ts=now + i * 1e-3,
            repairs=None,
        )


def _backend_cpu(store: Store, application: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL backends serving ``application`` (empty when the server's
    processes are not readable here)."""
    with store.read() as s:
        pids = s.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"), {"a": application}
        ).all()
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def measure(url: str, n: int, batch: int, experiment: bool) -> tuple[float, int, float, float | None]:
    postgres = url.startswith("postgresql")
    application = f"ingest_{uuid.uuid4().hex[:8]}"
    if postgres:
        url = f"{url}&application_name={application}"
    store = Store.from_url(url)
    upgrade(store)
    variant = Registry(store).register(VariantCreate(prompt="ingest", template="x {{ y }}")).variant
    prompt_id = Registry(store).get_prompt("ingest")
    with store.read() as s:
        from promptevolve.store.tables import Prompt

        pid = s.scalar(select(Prompt.id).where(Prompt.name == prompt_id.name))
    prepared = list(rows(n, pid, variant.id, experiment))
    recorder = Recorder(store, capacity=n + 1, batch_size=batch, interval_s=0.05)
    server_started = _backend_cpu(store, application) if postgres else {}
    started, cpu_started = time.perf_counter(), time.process_time()
    for row in prepared:
        recorder.record(row)
    assert recorder.flush(timeout_s=3600)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    server_now = _backend_cpu(store, application) if postgres else {}
    server = sum(t - server_started.get(pid, 0.0) for pid, t in server_now.items()) if server_now else None
    recorder.close()
    with store.read() as s:
        stored = s.scalar(select(func.count()).select_from(Execution))
    store.dispose()
    return elapsed, stored, cpu, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--experiment",
        action="store_true",
        help="every row inside a running experiment (experiment_id and arm set: the partial index grows)",
    )
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="measure one store")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"load average at the start: {os.getloadavg()}")
    results = []
    where = "in an experiment" if args.experiment else "outside experiments"
    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/ingest.db"
            results.append(
                (f"SQLite (file, WAL), {where}", *measure(url, args.rows, args.batch, args.experiment))
            )
    if args.only == "sqlite":
        report(results, args.batch)
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = f"{args.postgres}?options=-csearch_path%3D{schema}"
        label = f"PostgreSQL 15 (loopback, COPY), {where}"
        results.append((label, *measure(url, args.rows, args.batch, args.experiment)))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    report(results, args.batch)


def report(results: list[tuple[str, float, int, float, float | None]], batch: int) -> None:
    print(f"load average at the end: {os.getloadavg()}")
    print(
        "\n| store | rows | batch | seconds | rows/s | client CPU µs/row | server CPU µs/row |"
        "\n|---|---|---|---|---|---|---|"
    )
    for label, elapsed, stored, cpu, server in results:
        rate, per_row = stored / elapsed, cpu / stored * 1e6
        on_server = f"{server / stored * 1e6:.1f}" if server is not None else "—"
        figures = f"{stored:,} | {batch:,} | {elapsed:.1f} | {rate:,.0f} | {per_row:.1f} | {on_server}"
        print(f"| {label} | {figures} |")


if __name__ == "__main__":
    main()
