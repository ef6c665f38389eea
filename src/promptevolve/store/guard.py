"""Refusing text no database can hold, before it reaches either one.

PostgreSQL refuses a NUL character in text (and in ``json`` it stores ``\\u0000`` but then fails every
query that extracts it); SQLite stores it. A lone surrogate is not UTF-8 on either. Left to the
databases, the same request was stored on SQLite and answered 500 on PostgreSQL (issue 14), and a value
that landed in a ``json`` column broke later queries. So every statement SQLAlchemy sends is checked
here first, on both databases: a parameter holding such text raises ``UnstorableValueError`` (the API's
422) naming the table and column, and the transaction writes nothing.

JSON values are checked too: the engine serialises them without ASCII escapes (``json_dumps``), so a lone
surrogate inside a JSON value reaches the check as itself, and a NUL as the escape ``\u0000`` (JSON
escapes every control character), which is looked for in the parameters bound to JSON columns only
(in a text column those six characters are just text).

The bulk paths (``store.writes``: COPY and ``executemany`` on the driver) do not pass through here; the
rows they carry are made storable or validated before they are queued (``core.storable`` for executions,
``FeedbackIn`` for feedback).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, Engine, event

from promptevolve.core.errors import UnstorableValueError
from promptevolve.core.storable import why_unstorable

__all__ = ["install_storable_guard", "json_dumps"]


def json_dumps(value: Any) -> str:
    """The engine's JSON serialiser: standard JSON, non-ASCII kept as itself (as ``store.writes`` does)."""
    return json.dumps(value, ensure_ascii=False)


#: ``\u0000`` as JSON writes a NUL: the escape not itself escaped (preceded by an even run of backslashes).
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_BATCHED = re.compile(r"__\d+$")  # insertmanyvalues numbers the parameters of each row it batches


def _table(context: Any) -> str | None:
    statement = getattr(getattr(context, "compiled", None), "statement", None)
    table = getattr(statement, "table", None)
    return getattr(table, "name", None)


def _is_json(context: Any, name: str) -> bool:
    binds = getattr(getattr(context, "compiled", None), "binds", None) or {}
    bind = binds.get(name)
    if bind is None:
        bind = binds.get(_BATCHED.sub("", name))
    return bind is not None and isinstance(bind.type, JSON)


def _check(value: Any, name: str, context: Any) -> None:
    json_value = False
    if not isinstance(value, str):
        if type(value).__name__ not in ("Json", "Jsonb"):
            return
        # psycopg's JSON wrapper: serialised by the driver later, with the same serialiser
        value, json_value = json_dumps(value.obj), True
    why = why_unstorable(value) if not value.isascii() or "\x00" in value else None
    if (
        why is None
        and "\\u0000" in value
        and _JSON_NUL.search(value)
        and (json_value or _is_json(context, name))
    ):
        why = "a NUL character (\\u0000), which PostgreSQL cannot extract from JSON as text"
    if why is not None:
        table = _table(context)
        column = _BATCHED.sub("", name)
        where = f"{table}.{column}" if table else column
        raise UnstorableValueError(f"cannot store {where}: the value contains {why}; remove it")


def _names(context: Any, row: Any) -> list[str]:
    positions = getattr(getattr(context, "compiled", None), "positiontup", None)
    if positions is not None and len(positions) == len(row):
        return [str(p) for p in positions]
    return [f"parameter {n + 1}" for n in range(len(row))]


def _check_parameters(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    # SQLAlchemy's "insertmanyvalues" may pass one row with ``executemany`` set: look at what came.
    many = (
        executemany
        and isinstance(parameters, list | tuple)
        and bool(parameters)
        and isinstance(parameters[0], Mapping | list | tuple)
    )
    rows = parameters if many else [parameters]
    for row in rows or ():
        if isinstance(row, Mapping):
            for name, value in row.items():
                _check(value, str(name), context)
        elif isinstance(row, list | tuple):
            for name, value in zip(_names(context, row), row, strict=True):
                _check(value, name, context)


def install_storable_guard(engine: Engine) -> None:
    """Check every statement's parameters on ``engine`` (see the module docstring)."""
    event.listen(engine, "before_cursor_execute", _check_parameters)
