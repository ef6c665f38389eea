"""Bulk writes of telemetry rows, the fastest way each database offers.

PostgreSQL: ``COPY … FROM STDIN`` through psycopg (one round trip per batch, no statement per row).
SQLite: one ``executemany`` of a prepared INSERT inside a write transaction. Both run in one
transaction per batch, so a batch is written entirely or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from promptevolve.core.errors import StoreError, StoreUnavailableError
from promptevolve.store.engine import Store, describe_url

__all__ = ["bulk_insert"]


def _copy_value(value: Any, is_json: bool) -> Any:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False) if is_json else value


def _copy_postgres(conn: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = [c for c in table.columns if c.name in rows[0]]
    json_flags = [isinstance(c.type, JSON) for c in columns]
    names = ", ".join(f'"{c.name}"' for c in columns)
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [_copy_value(row.get(c.name), j) for c, j in zip(columns, json_flags, strict=True)]
            )


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
                conn.execute(insert(table), list(rows))
    except OperationalError as exc:
        raise StoreUnavailableError(
            f"cannot write to the store at {describe_url(store.url)}: {exc.orig or exc}"
        ) from None
    except SQLAlchemyError as exc:
        raise StoreError(f"writing {table.name} failed: {exc}") from None
    except Exception as exc:  # psycopg errors raised by COPY outside SQLAlchemy's wrapping
        raise StoreError(f"writing {table.name} failed: {type(exc).__name__}: {exc}") from None
    return len(rows)
