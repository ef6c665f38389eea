"""How well the API keeps its OpenAPI contract: schemathesis, every phase, bigger budgets than CI's.

Question: with examples, coverage, fuzzing and stateful phases generating requests for every operation,
how many server errors (5xx) and conformance failures (status, content type, headers, schema, a request
that breaks the schema and is accepted) does the API answer? The API runs in process on a fresh,
migrated database with two variants, an autopilot policy and a candidate awaiting approval (the same
data as ``tests/api/test_api_openapi.py``); ``--examples`` bounds cases per operation and phase.

    python bench/api_contract.py [--examples 50] [--database sqlite|postgres] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from tests.api.contract import run_contract  # noqa: E402
from tests.api.support import running_api  # noqa: E402
from tests.api.test_api_openapi import seeded  # noqa: E402

from promptevolve.store.engine import Store  # noqa: E402
from promptevolve.store.migrate import upgrade  # noqa: E402

POSTGRES = os.environ.get(
    "PROMPTEVOLVE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "sqlite":
            url = f"sqlite:///{tmp}/contract.db"
        else:
            with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
        store = Store.from_url(url)
        upgrade(store)
        store.dispose()
        try:
            with running_api(url) as api:
                seeded(api)
                report = run_contract(api.client.app, api.headers(), examples=args.examples, seed=args.seed)
        finally:
            if args.database == "postgres":
                with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average at the end (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"database: {args.database}, examples per operation and phase: {args.examples}, seed {args.seed}")
    print(f"cases: {sum(report.cases.values())} {dict(report.cases)} in {report.seconds:.0f} s")
    print(f"phases run: {sorted(report.phases_run)}")
    print(f"server errors: {len(report.server_errors)}")
    print(f"conformance failures: {len(report.conformance_failures)}")
    print(f"failures by check (distinct operation each): {dict(report.by_check())}")
    for (check, operation), detail in report.failures.items():
        print(f"--- {check} on {operation}\n{detail}")
    for error in report.errors:
        print(f"error: {error}")


if __name__ == "__main__":
    main()
