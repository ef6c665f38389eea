"""A database filled at each older schema revision upgrades to head with its data, on SQLite and
PostgreSQL (STYLE.md: migrations tested from a *populated* older schema, as llm's
``test_migrate_from_original_schema``).

One source database is migrated to head and filled through the API and the SDK, so that every table
holds rows (``tests/store/support.populate``). For each older revision, a blank database is migrated to
that revision only and receives the source's rows in the tables and columns that revision has, copied in
SQL (``INSERT … SELECT`` from an attached file or a sibling schema, so every value keeps its stored form);
on PostgreSQL the id sequences are set past the copied ids, as they would be in a database that wrote
those rows itself. Then the upgrade to head must

- keep every copied row, value for value, in the columns the older revision had;
- leave the columns a later revision added empty (NULL), and the tables it added empty, except the
  tables a migration derives from older rows (``_DERIVED``), which must hold what the code writes;
- give exactly the declared schema (``compare_metadata``);
- serve the same answers through the API as the source does for everything the oldest schema stores
  (prompts, variants, labels, history, experiments with their analysis, executions, evolution runs),
  and take new calls and feedback afterwards.

The rows are those the current code writes. No migration so far rewrites stored values (each adds a
table, a column, an index, or drops a foreign key; 0012 adds a table filled from the decision log,
which it leaves as it is), so they are also what the code of each revision wrote; a migration that
transforms data adds the older form of its rows here.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, text
from tests.api.support import drive, running_api
from tests.store.support import Rows, populate, rows

from promptevolve.store.engine import Store
from promptevolve.store.migrate import current_revision, head_revision, revisions, upgrade
from promptevolve.store.tables import Base

#: Tables a migration fills from rows the older schema already held (0012 replays the decision log into
#: the autopilot's candidates): after the upgrade they must hold exactly what the current code wrote.
_DERIVED = frozenset({"autopilot_candidates"})

#: A blank database: its URL and where its tables live (an SQLite file, or a PostgreSQL schema).
Blank = tuple[str, str]

#: Read-only API answers that depend only on tables the first revision has.
_ANSWERS = (
    "/prompts",
    "/prompts/p",
    "/prompts/p/variants",
    "/prompts/p/history",
    "/prompts/p/labels/production",
    "/experiments",
    "/experiments/{experiment}",
    "/experiments/{experiment}/analysis",
    "/experiments/{experiment}/decisions",
    "/executions?limit=500",
    "/evolution/runs",
    "/datasets",
)


@contextmanager
def _blank_databases(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Blank]]:
    """Make blank databases of ``backend`` on demand; PostgreSQL schemas are dropped at the end."""
    if backend == "sqlite":
        names = (tmp_path / f"db{i}.db" for i in range(1000))
        yield lambda: (f"sqlite:///{(path := next(names))}", str(path))
        return
    server = request.getfixturevalue("postgres_url")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def blank() -> Blank:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        joiner = "&" if "?" in server else "?"
        return f"{server}{joiner}options={quote(f'-csearch_path={schema}')}", schema

    try:
        yield blank
    finally:
        with admin.connect() as conn:
            for schema in made:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _answers(url: str) -> dict[str, Any]:
    with running_api(url) as api:
        (experiment,) = [e["id"] for e in api.ok(api.get("/experiments"))["items"]]
        answers = {path: api.ok(api.get(path.format(experiment=experiment))) for path in _ANSWERS}
    del answers["/experiments/{experiment}/analysis"]["at"]  # when the analysis ran: now
    return answers


#: The rollups' change log (0009): written by triggers while the other tables are copied into a revision
#: that has them, so it is copied last, replacing what the copy itself logged (the source's state, as is).
_CHANGE_LOG = "rollup_changes"


def _in_copy_order(tables: MetaData) -> list[Any]:
    ordered = tables.sorted_tables
    return [t for t in ordered if t.name != _CHANGE_LOG] + [t for t in ordered if t.name == _CHANGE_LOG]


def _copy(store: Store, source: Blank, target: Blank) -> None:
    """Copy the source's rows into ``target``'s tables, in the columns those tables have."""
    tables = MetaData()
    tables.reflect(store.engine)
    tables.remove(tables.tables["alembic_version"])  # the target keeps its own revision
    if store.dialect == "sqlite":
        _copy_sqlite(tables, source[1], target[1])
        return
    with store.engine.connect() as conn:
        for table in _in_copy_order(tables):
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            if table.name == _CHANGE_LOG:
                conn.exec_driver_sql(f'DELETE FROM "{target[1]}"."{table.name}"')
            conn.exec_driver_sql(
                f'INSERT INTO "{target[1]}"."{table.name}" ({columns}) '
                f'SELECT {columns} FROM "{source[1]}"."{table.name}"'
            )
            for column in table.primary_key.columns:
                sequence = conn.execute(
                    text("SELECT pg_get_serial_sequence(:table, :column)"),
                    {"table": f'"{table.name}"', "column": column.name},
                ).scalar()
                if sequence is not None:
                    conn.execute(
                        text(f'SELECT setval(:sequence, (SELECT max("{column.name}") FROM "{table.name}"))'),
                        {"sequence": sequence},
                    )
        conn.commit()


def _copy_sqlite(tables: MetaData, source: str, target: str) -> None:
    with sqlite3.connect(target) as conn:
        conn.execute("ATTACH DATABASE ? AS source", (source,))
        for table in _in_copy_order(tables):
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            if table.name == _CHANGE_LOG:
                conn.execute(f'DELETE FROM main."{table.name}"')
            conn.execute(
                f'INSERT INTO main."{table.name}" ({columns}) SELECT {columns} FROM source."{table.name}"'
            )
    conn.close()


def _lost(source: Rows, old: Rows, now: Rows) -> list[str]:
    """What the upgrade lost, changed or invented: ``old`` is the older schema's tables and columns."""
    problems = []
    for table, (columns, found) in now.items():
        if table not in old:
            if table in _DERIVED:
                if found != source[table][1]:
                    problems.append(f"{table}: filled from the older rows, yet not as the code fills it")
            elif found:
                problems.append(f"{table}: added by a later revision, yet holds {len(found)} rows")
            continue
        kept_columns = old[table][0]
        source_columns, source_rows = source[table]
        expected = _project(source_rows, source_columns, kept_columns)
        if _project(found, columns, kept_columns) != expected:
            problems.append(
                f"{table}: {len(expected)} rows copied, {len(found)} after the upgrade, or values changed"
            )
        added = [c for c in columns if c not in kept_columns]
        if any(v is not None for row in _project(found, columns, added) for v in row):
            problems.append(f"{table}: the columns a later revision added ({', '.join(added)}) are not empty")
    return problems


def _project(found: list[tuple[Any, ...]], columns: list[str], keep: list[str]) -> list[tuple[Any, ...]]:
    at = [columns.index(c) for c in keep]
    return sorted((tuple(row[i] for i in at) for row in found), key=repr)


def test_a_database_filled_at_each_older_revision_upgrades_to_head_with_its_data(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with _blank_databases(backend, tmp_path, request) as blank:
        source = blank()
        upgrade(Store.from_url(source[0]))
        populate(source[0], tmp_path)
        source_store = Store.from_url(source[0])
        expected = _answers(source[0])
        source_rows = rows(source_store)
        source_store.dispose()
        # (but the rollups' change log, which the analysis read by ``_answers`` consumed)
        filled = [found for table, (_, found) in source_rows.items() if table != "rollup_changes"]
        assert all(filled), "the source must hold rows in every table"

        older = revisions()[:-1]
        assert older, "no older revision to upgrade from"
        for revision in older:
            target = blank()
            store = Store.from_url(target[0])
            assert upgrade(store, revision) == revision
            _copy(store, source, target)
            old = rows(store)
            assert any(found for _, found in old.values()), f"{revision}: nothing was copied"

            assert upgrade(store) == head_revision() == current_revision(store), revision
            assert not (lost := _lost(source_rows, old, rows(store))), f"upgrade from {revision}: {lost}"
            with store.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == [], f"upgrade from {revision} gives another schema: {diff}"

            assert _answers(target[0]) == expected, f"upgrade from {revision}: the API answers differ"
            with running_api(target[0]) as api:
                before = len(api.ok(api.get("/executions?limit=500"))["items"])
                drive(api.store, api.settings, units=5, start=10_000, thumbs={"1.0.0": 1.0, "1.1.0": 1.0})
                assert len(api.ok(api.get("/executions?limit=500"))["items"]) == before + 5, revision
            store.dispose()
