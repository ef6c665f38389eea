"""Does the batch writer keep up with one Python thread calling the SDK flat out?

Question: at the highest call rate one thread reaches, for ``--seconds``, how many tracking rows does
the recorder drop on a healthy store? One thread calls ``get_prompt(...)`` + ``track(...)`` (the cheapest
public call that records a row) in a loop, or ``run()`` with a scripted model (``--call run``), on
SQLite (a file, WAL) or PostgreSQL; the recorder's own thread writes. Printed: calls/s, rows enqueued,
written, dropped, paced (calls whose enqueue waited for the writer), the deepest the queue got, and how
long the last rows took to be written.

    python bench/recorder_load.py [--seconds 60] [--call track|run] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid

from sqlalchemy import create_engine, text

from promptevolve.client import PromptOptimizer
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
VARIABLES = {"company_name": "Quillmark Labs", "country": "United States"}


def open_store(database: str, tmp: str) -> tuple[Store, str | None]:
    if database == "sqlite":
        return Store.from_url(f"sqlite:///{tmp}/load.db"), None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return Store.from_url(f"{POSTGRES}?options=-csearch_path%3D{schema}"), schema


def drop_schema(schema: str | None) -> None:
    if schema is not None:
        with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--call", choices=("track", "run"), default="track")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        store, schema = open_store(args.database, tmp)
        try:
            upgrade(store)
            registry = Registry(store)
            settings = ModelSettings(provider="scripted")
            template = "Enrich {{ company_name }}"
            registry.register(VariantCreate(prompt="p", template=template, settings=settings))
            registry.activate("p", "1.0.0")
            po = PromptOptimizer(
                store,
                settings=Settings(database_url=store.url),
                providers={"scripted": ScriptedProvider(["{}"], cycle=True)},
            )
            calls, t0 = 0, time.perf_counter()
            cpu0 = time.process_time()
            end = t0 + args.seconds
            while True:
                for i in range(1_000):
                    if args.call == "track":
                        handle = po.get_prompt("p", unit_id=f"u{i}")
                        po.track(handle, variables=VARIABLES, output="{}", latency_ms=1.0)
                    else:
                        po.run("p", VARIABLES, unit_id=f"u{i}")
                calls += 1_000
                if time.perf_counter() >= end:
                    break
            elapsed = time.perf_counter() - t0
            t1 = time.perf_counter()
            po.flush(600)
            drain = time.perf_counter() - t1
            cpu = time.process_time() - cpu0
            stats = po.recorder.stats
            po.close()
        finally:
            store.dispose()
            drop_schema(schema)
    print(f"load average at end: {os.getloadavg()}")
    print(
        f"\n| database | call | seconds | calls/s | enqueued | written | dropped | paced | peak queue | "
        f"drain after (s) | process CPU (s) |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {args.database} | {args.call} | {elapsed:.1f} | {calls / elapsed:,.0f} | {stats.enqueued:,} | "
        f"{stats.written:,} | {stats.dropped:,} | {stats.paced:,} | {stats.peak_queue:,} | "
        f"{drain:.2f} | {cpu:.1f} |"
    )


if __name__ == "__main__":
    main()
