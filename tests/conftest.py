"""Shared fixtures: every store-backed test runs on SQLite and on PostgreSQL.

``--db`` chooses the backends (``sqlite``, ``postgres`` or ``both``, the default). PostgreSQL tests
each get a schema of their own in the configured database (``PROMPTEVOLVE_TEST_POSTGRES_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), selected through ``search_path`` in the
URL, so they run in isolation and the schema is dropped afterwards. Where no server answers, a throwaway
one is started (``tests/services.py``); where none can be had, the PostgreSQL tests are skipped, the run's
summary says so, and with ``PROMPTEVOLVE_TEST_REQUIRE_SERVICES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, select, text
from tests import services
from tests.seeds import SeedsOfThisTest

from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade
from promptevolve.store.tables import Base


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default="both",
        choices=("sqlite", "postgres", "both"),
        help="Which databases store-backed tests run on.",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = ["sqlite", "postgres"] if choice == "both" else [choice]
        metafunc.parametrize("backend", backends, scope="function")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster than per test)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store.from_url(f"sqlite:///{path}")
    upgrade(store)
    store.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The PostgreSQL server of this run: the configured one, else a throwaway one (tests/services.py)."""
    url, throwaway = services.postgres_url()
    if not services.answers(url):
        reason = f"PostgreSQL tests not run: {services.REPORT.postgres}"
        if services.required():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield url
    finally:
        if throwaway is not None:
            throwaway.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say which services the run used and what it did not run for want of one."""
    terminalreporter.section("services")
    terminalreporter.write_line(f"PostgreSQL: {services.REPORT.postgres}")
    for note in services.REPORT.notes:
        terminalreporter.write_line(f"  {note}")
    missing = services.chromium_missing()
    terminalreporter.write_line(f"Chromium: {missing or services.CHROMIUM}")


def _postgres_schema_url(base: str, schema: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def _migrated_schema(server: str) -> Iterator[str]:
    """A schema of its own on ``server``, migrated to head, dropped afterwards; yields its URL."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _postgres_schema_url(server, schema)
    store = Store.from_url(url)
    upgrade(store)
    store.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database_url(
    backend: str, tmp_path: Path, _sqlite_template: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The URL of a fresh, migrated database of the chosen backend."""
    if backend == "sqlite":
        path = tmp_path / "promptevolve.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    with _migrated_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def postgres_database_url(postgres_url: str) -> Iterator[str]:
    """A fresh, migrated schema of its own on PostgreSQL, for tests that need PostgreSQL only (several
    processes on one server, LISTEN/NOTIFY, procrastinate): no ``backend`` parameter, no SQLite run."""
    with _migrated_schema(postgres_url) as url:
        yield url


@pytest.fixture
def blank_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty database (no schema yet) of the chosen backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(server, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store.from_url(database_url)
    yield s
    s.dispose()


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: to prove a refused change wrote nothing."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


@pytest.fixture
def db_snapshot(store: Store) -> Any:
    """Call it before and after a refused change; the two snapshots must be equal."""
    return lambda: snapshot(store)


@pytest.fixture(autouse=True)
def _experiment_seeds_per_test(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Experiments created in the test's process take seeds derived from its id (``tests/seeds.py``)."""
    import promptevolve.experiments.service as experiments

    monkeypatch.setattr(experiments, "secrets", SeedsOfThisTest(request.node.nodeid))
