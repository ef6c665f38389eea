"""Bulk writes of telemetry rows, the fastest way each database offers.

PostgreSQL: binary ``COPY … FROM STDIN`` through psycopg with the column types declared up front (one
round trip per batch, no statement per row, no per-value type lookup, no text parsing on the server).
SQLite: one ``executemany`` of a prepared INSERT on the driver's cursor. Both bypass SQLAlchemy's
per-row parameter processing (JSON columns are serialised here), which otherwise costs more than the
database itself, and both run in one transaction per batch, so a batch is written entirely or not at
all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Double, Integer, Table
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from promptevolve.core.errors import PromptevolveError, StoreError, StoreUnavailableError
from promptevolve.store.engine import Store, describe_url, is_unavailable, why_unavailable

__all__ = [
    "CopyRows",
    "StoreBusyError",
    "bulk_insert",
    "copy_rows",
    "insert_rows",
    "uniform_rows",
    "write_transaction",
]


#: One encoder for every JSON value written, on both databases: ``json.dumps`` with options builds an
#: encoder per call, and psycopg's JSON dumper (44 % of a profiled PostgreSQL batch's client time) is
#: skipped. The encoding itself remains; bench/ingest.py showed no end-to-end change (BENCHMARKS.md).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _pg_type(column: Any) -> str:
    if isinstance(column.type, JSON):
        return "text"  # already encoded here; PostgreSQL's binary input of ``json`` is its UTF-8 text
    if isinstance(column.type, Double):
        return "float8"
    if isinstance(column.type, Boolean):
        return "bool"
    if isinstance(column.type, Integer):
        return "int4"
    return "text"


def _columns(table: Table, row: Mapping[str, Any]) -> list[Any]:
    """The columns a batch writes: those its rows give, plus those with a scalar default."""
    return [c for c in table.columns if c.name in row or (c.default is not None and c.default.is_scalar)]


def _tuples(columns: list[Any], rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Row values in column order. The driver is called directly, so the tables' Python-side defaults
    are applied here, and JSON is serialised here.

    Rows that carry every column (the SDK's do) go through ``itemgetter``, in C: this loop runs once per
    stored row and was a third of the ingest time when written as a generator over the columns.
    """
    names = [c.name for c in columns]
    defaults = {c.name: c.default.arg for c in columns if c.default is not None and c.default.is_scalar}
    json_at = [i for i, c in enumerate(columns) if isinstance(c.type, JSON)]
    encode = _JSON.encode
    get = itemgetter(*names)
    out: list[tuple[Any, ...]] = []
    for row in rows:
        try:
            values = get(row)
        except KeyError:
            values = tuple(row.get(n, defaults.get(n)) for n in names)
        if len(names) == 1:
            values = (values,)
        if json_at:
            listed = list(values)
            for i in json_at:
                if listed[i] is not None:
                    listed[i] = encode(listed[i])
            values = tuple(listed)
        out.append(values)
    return out


@dataclass(frozen=True)
class CopyRows:
    """A PostgreSQL binary COPY of rows: the statement, the column types to declare, the row values.
    For a writer with its own psycopg connection (``api.commits`` uses an async one)."""

    statement: str
    types: list[str]
    values: list[tuple[Any, ...]]


def copy_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> CopyRows:
    columns = _columns(table, rows[0])
    names = ", ".join(f'"{c.name}"' for c in columns)
    return CopyRows(
        f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)',
        [_pg_type(c) for c in columns],
        _tuples(columns, rows),
    )


def _copy_postgres(conn: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    plan = copy_rows(table, rows)
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(plan.statement) as copy:
        copy.set_types(plan.types)
        for values in plan.values:
            copy.write_row(values)


def _executemany_sqlite(conn: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = _columns(table, rows[0])
    names = ", ".join(f'"{c.name}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', _tuples(columns, rows))
    finally:
        cursor.close()


class StoreBusyError(StoreUnavailableError):
    """SQLite's write lock is held by another connection, and the caller chose not to wait for it."""


@contextmanager
def write_transaction(
    store: Store, what: str = "writing to the store", *, wait: bool = True
) -> Iterator[Connection]:
    """A connection in one write transaction (the write lock taken at BEGIN on SQLite), committed when
    the block ends; an outage raises ``StoreUnavailableError``, a rejected write ``StoreError`` whose
    message starts with ``what``. ``wait=False``: on SQLite, ``StoreBusyError`` at once if another
    connection holds the write lock, instead of waiting up to the busy timeout."""
    try:
        with (
            store.engine.connect().execution_options(promptevolve_begin_immediate=True) as conn,
            _no_wait(conn) if not wait and conn.dialect.name == "sqlite" else nullcontext(),
            conn.begin(),
        ):
            yield conn
    except PromptevolveError:
        raise  # raised by the caller's block: already says what went wrong
    except Exception as exc:
        if not wait and isinstance(exc, OperationalError) and "locked" in str(exc.orig):
            raise StoreBusyError(
                f"the store at {describe_url(store.url)} is locked by another writer"
            ) from None
        # A lock or statement timeout, or a lost connection, means "not now": the recorder retries the
        # batch. Only other errors say the rows themselves are bad (it then bisects to find them).
        if is_unavailable(exc):
            why = why_unavailable(exc, store.timeouts)
            raise StoreUnavailableError(
                f"cannot write to the store at {describe_url(store.url)}: {why}"
            ) from None
        if isinstance(exc, SQLAlchemyError):
            raise StoreError(f"{what} failed: {exc}") from None
        # driver errors raised by COPY / executemany outside SQLAlchemy's wrapping
        raise StoreError(f"{what} failed: {type(exc).__name__}: {exc}") from None


@contextmanager
def _no_wait(conn: Connection) -> Iterator[None]:
    """SQLite's busy timeout at zero for one transaction, then back to what it was."""
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always holds its driver's connection
    (timeout,) = raw.execute("PRAGMA busy_timeout").fetchone()
    raw.execute("PRAGMA busy_timeout=0")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(timeout)}")


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) inside the caller's transaction; returns how many."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, table, rows)
    else:
        _executemany_sqlite(conn, table, rows)
    return len(rows)


def bulk_insert(store: Store, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) in one transaction; returns how many."""
    if not rows:
        return 0
    with write_transaction(store, f"writing {table.name}") as conn:
        return insert_rows(conn, table, rows)


def uniform_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row the same keys (a bulk insert needs one column list)."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    if all(len(row) == len(keys) for row in rows):
        return rows
    return [{k: row.get(k) for k in keys} for row in rows]
