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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Double, Integer, Table
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from promptevolve.core.errors import PromptevolveError, StoreUnavailableError
from promptevolve.store.engine import Store, describe_url, is_unavailable, refused, why_unavailable

__all__ = [
    "CopyRows",
    "JsonText",
    "StoreBusyError",
    "bulk_insert",
    "bulk_insert_values",
    "copy_rows",
    "insert_rows",
    "write_transaction",
]


#: One encoder for every JSON value written, on both databases, made once: ``json.dumps`` with options
#: builds an encoder per call, and even a kept ``JSONEncoder.encode`` builds its C encoder per call (4 µs
#: a row against 1.3 µs, measured under load); psycopg's JSON dumper is skipped too (44 % of a profiled
#: batch's client time). No ``markers``: a cyclic value raises ``RecursionError`` instead of
#: ``ValueError``, and either rejects the row. Not ASCII-escaped, compact, NaN written as ``NaN``
#: (PostgreSQL then rejects the row), as ``JSONEncoder(ensure_ascii=False)`` does.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_encode_chunks = (
    c_make_encoder(None, _JSON.default, c_encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None and c_encode_basestring is not None
    else None
)


class JsonText(str):
    """A JSON value already encoded (e.g. the canonical text the SDK hashes): written as it is, instead
    of being encoded a second time by the writer (an eighth of the writer's time for executions)."""

    __slots__ = ()


def _encode_json(value: Any) -> str | None:
    if value is None or type(value) is JsonText:
        return value
    if _encode_chunks is None:  # an interpreter without the C accelerator
        return _JSON.encode(value)
    return "".join(_encode_chunks(value, 0))


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


def _has_scalar_default(column: Any) -> bool:
    return column.default is not None and column.default.is_scalar


def _scalar_default(column: Any) -> Any:
    """The value of a column's scalar default (where ``_has_scalar_default``)."""
    return column.default.arg


def _layout(table: Table, rows: Sequence[Mapping[str, Any]]) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """The columns a batch writes (those its rows give, plus those with a scalar default) and each row's
    values in their order. The driver is called directly, so the tables' Python-side defaults are
    applied here, and JSON is serialised here.

    A batch whose rows all carry the same columns (the SDK's do) is laid out in one pass, in C where it
    can be (``itemgetter``, JSON columns placed last): this loop runs once per stored row and was a third
    of the ingest time when it was a generator over the columns. Rows with different keys are written
    with the union of their columns, a missing value taking the column's default (else NULL).
    """
    first = rows[0]
    given = [c for c in table.columns if c.name in first]
    if len(given) == len(first):
        laid_out = _uniform_layout(table, given, rows)
        if laid_out is not None:
            return laid_out
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    columns = [c for c in table.columns if c.name in keys or _has_scalar_default(c)]
    names = [c.name for c in columns]
    defaults = {c.name: _scalar_default(c) for c in columns if _has_scalar_default(c)}
    json_at = [i for i, c in enumerate(columns) if isinstance(c.type, JSON)]
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = [row.get(n, defaults.get(n)) for n in names]
        for i in json_at:
            values[i] = _encode_json(values[i])
        out.append(tuple(values))
    return columns, out


def _getter(names: list[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function giving a row's values for ``names`` as a tuple (``itemgetter`` returns a bare value for
    one name)."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        (name,) = names
        return lambda row: (row[name],)
    return lambda row: ()


def _uniform_layout(
    table: Table, given: list[Any], rows: Sequence[Mapping[str, Any]]
) -> tuple[list[Any], list[tuple[Any, ...]]] | None:
    """The layout when every row has exactly the first row's keys, else None (a row differs)."""
    plain = [c for c in given if not isinstance(c.type, JSON)]
    as_json = [c for c in given if isinstance(c.type, JSON)]
    defaulted = [c for c in table.columns if c.name not in rows[0] and _has_scalar_default(c)]
    constant = tuple(_scalar_default(c) for c in defaulted)
    width = len(given)
    names = [c.name for c in plain]
    get = _getter(names)
    json_names = [c.name for c in as_json]
    out: list[tuple[Any, ...]] = []
    append, encode = out.append, _encode_json
    try:
        if not json_names:
            for row in rows:
                if len(row) != width:
                    return None
                append(get(row) + constant)
        elif len(json_names) == 1:
            (key,) = json_names
            for row in rows:
                if len(row) != width:
                    return None
                append(get(row) + constant + (encode(row[key]),))
        else:
            for row in rows:
                if len(row) != width:
                    return None
                append(get(row) + constant + tuple(encode(row[k]) for k in json_names))
    except KeyError:
        return None
    return [*plain, *defaulted, *as_json], out


@dataclass(frozen=True)
class CopyRows:
    """A PostgreSQL binary COPY of rows: the statement, the column types to declare, the row values.
    For a writer with its own psycopg connection (``api.commits`` uses an async one)."""

    statement: str
    types: list[str]
    values: list[tuple[Any, ...]]


def copy_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> CopyRows:
    columns, values = _layout(table, rows)
    names = ", ".join(f'"{c.name}"' for c in columns)
    return CopyRows(
        f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)',
        [_pg_type(c) for c in columns],
        values,
    )


def _copy_postgres(conn: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    plan = copy_rows(table, rows)
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(plan.statement) as copy:
        copy.set_types(plan.types)
        for values in plan.values:
            copy.write_row(values)


def _executemany_sqlite(conn: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    columns, values = _layout(table, rows)
    names = ", ".join(f'"{c.name}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', values)
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
    message starts with ``what`` (``StoreValueError`` when a value was refused). ``wait=False``: on
    SQLite, ``StoreBusyError`` at once if another connection holds the write lock, instead of waiting up
    to the busy timeout."""
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
            raise refused(exc, f"{what} failed: {exc}") from None
        # driver errors raised by COPY / executemany outside SQLAlchemy's wrapping
        raise refused(exc, f"{what} failed: {type(exc).__name__}: {exc}") from None


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
    """Insert ``rows`` (dicts, not necessarily with the same keys) in the caller's transaction; returns how
    many."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, table, rows)
    else:
        _executemany_sqlite(conn, table, rows)
    return len(rows)


def bulk_insert(store: Store, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (dicts; rows may give different keys) in one transaction; returns how many."""
    if not rows:
        return 0
    with write_transaction(store, f"writing {table.name}") as conn:
        return insert_rows(conn, table, rows)


def bulk_insert_values(
    store: Store, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """Insert ``rows``, each the values of the columns ``names`` in that order and final (a JSON
    column's value already its text, e.g. ``JsonText``), in one transaction; returns how many. The
    SDK's typed records (``tracking.records``) are such tuples: written as they are, without being made
    into dicts and laid out again, which cost the recorder ~2 µs a row."""
    if not rows:
        return 0
    quoted = ", ".join(f'"{name}"' for name in names)
    with write_transaction(store, f"writing {table.name}") as conn:
        raw = conn.connection.driver_connection
        assert raw is not None  # a checked-out connection always holds its driver's connection
        if conn.dialect.name == "postgresql":
            statement = f'COPY "{table.name}" ({quoted}) FROM STDIN (FORMAT BINARY)'
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types([_pg_type(table.columns[name]) for name in names])
                for values in rows:
                    copy.write_row(values)
        else:
            marks = ", ".join("?" for _ in names)
            cursor = raw.cursor()
            try:
                cursor.executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', rows)
            finally:
                cursor.close()
    return len(rows)
