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
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Double, Integer, Table
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from promptevolve.core.errors import StoreError, StoreUnavailableError
from promptevolve.store.engine import Store, describe_url

__all__ = ["bulk_insert"]


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


def _copy_postgres(conn: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = _columns(table, rows[0])
    names = ", ".join(f'"{c.name}"' for c in columns)
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)') as copy,
    ):
        copy.set_types([_pg_type(c) for c in columns])
        for values in _tuples(columns, rows):
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


def bulk_insert(store: Store, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) in one transaction; returns how many."""
    if not rows:
        return 0
    try:
        with (
            store.engine.connect().execution_options(promptevolve_begin_immediate=True) as conn,
            conn.begin(),
        ):
            if conn.dialect.name == "postgresql":
                _copy_postgres(conn, table, rows)
            else:
                _executemany_sqlite(conn, table, rows)
    except OperationalError as exc:
        raise StoreUnavailableError(
            f"cannot write to the store at {describe_url(store.url)}: {exc.orig or exc}"
        ) from None
    except SQLAlchemyError as exc:
        raise StoreError(f"writing {table.name} failed: {exc}") from None
    except Exception as exc:  # psycopg errors raised by COPY outside SQLAlchemy's wrapping
        raise StoreError(f"writing {table.name} failed: {type(exc).__name__}: {exc}") from None
    return len(rows)
