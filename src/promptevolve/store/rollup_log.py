"""The rollups' change-log triggers on SQLite: present only while a rollup exists.

Migration 0009 logs every change to ``executions``, ``feedback``, ``scores`` and ``exposures`` that a
rollup covers into ``rollup_changes`` (``experiments.rollups`` reads it). PostgreSQL runs those triggers
once per statement (a COPY of 5,000 rows: one probe of ``rollups``), but SQLite has only row triggers,
and a row trigger costs ~8 µs per inserted row even when its ``WHEN`` clause finds no rollup: the
executions insert went from ~7 to ~15 µs of CPU per row, halving SQLite's ingest (BENCHMARKS.md,
"Ingest"). So on SQLite the triggers exist only while the ``rollups`` table holds a row:
``sync_sqlite_triggers`` creates them (or drops them) **in the transaction that registers (or drops)
rollups**. SQLite serialises writers and re-reads the schema at each transaction's start, so every write
committed after a registration runs the triggers, and every write committed before it is in the build
that follows (``experiments.rollups.prepare``): rollups stay exact, and with no rollup an insert pays
nothing. Migration 0010 applies the same rule to existing databases.

The triggers keep 0009's ``WHEN EXISTS (SELECT 1 FROM rollups)`` guard, so rows deleted from ``rollups``
by other means than ``prepare`` leave correct (if slower) triggers until the next ``prepare`` drops them.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

__all__ = ["SQLITE_TRIGGERS", "drop_sqlite_triggers", "sqlite_triggers_present", "sync_sqlite_triggers"]

_COLUMNS = "kind, experiment_id, arm, unit, variant_id, ts"
_COVERED = (
    "(EXISTS (SELECT 1 FROM rollups r WHERE r.variant_id = e.variant_id) "
    "OR EXISTS (SELECT 1 FROM rollups r WHERE r.experiment_id = e.experiment_id))"
)
_FROM_EXECUTION = "'e', e.experiment_id, e.arm, COALESCE(e.unit_hash, e.id), e.variant_id, e.ts"
_SIDES = {"insert": ["NEW"], "delete": ["OLD"], "update": ["OLD", "NEW"]}


def _trigger(table: str, op_name: str) -> str:
    """0009's SQLite trigger for ``table`` and ``op_name``, as that migration wrote it."""
    body = ""
    for side in _SIDES[op_name]:
        if table == "executions":
            where = _COVERED.replace("e.", f"{side}.")
            body += (
                f"INSERT INTO rollup_changes ({_COLUMNS}) SELECT "
                f"{_FROM_EXECUTION.replace('e.', f'{side}.')} WHERE {where};\n"
            )
        else:
            body += (
                f"INSERT INTO rollup_changes ({_COLUMNS}) SELECT {_FROM_EXECUTION} "
                f"FROM executions e WHERE e.id = {side}.execution_id AND {_COVERED};\n"
            )
    return (
        f"CREATE TRIGGER rollup_log_{table}_{op_name} AFTER {op_name.upper()} ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM rollups) BEGIN\n{body}END"
    )


_EXPOSURES = (
    "CREATE TRIGGER rollup_log_exposures_insert AFTER INSERT ON exposures "
    "WHEN EXISTS (SELECT 1 FROM rollups) BEGIN\n"
    f"INSERT INTO rollup_changes ({_COLUMNS}) SELECT 'x', NEW.experiment_id, NEW.arm, "
    "COALESCE(NEW.unit_hash, NEW.id), NEW.variant_id, NEW.ts "
    "WHERE EXISTS (SELECT 1 FROM rollups r WHERE r.experiment_id = NEW.experiment_id);\nEND"
)

#: (name, CREATE TRIGGER statement) of every change-log trigger on SQLite.
SQLITE_TRIGGERS: tuple[tuple[str, str], ...] = (
    *(
        (f"rollup_log_{table}_{op_name}", _trigger(table, op_name))
        for table in ("executions", "feedback", "scores")
        for op_name in ("insert", "update", "delete")
    ),
    ("rollup_log_exposures_insert", _EXPOSURES),
)


def sqlite_triggers_present(conn: Connection | Session) -> set[str]:
    """The names of the change-log triggers the SQLite database has now."""
    names = conn.execute(
        text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rollup_log_%'")
    ).scalars()
    return set(names)


def drop_sqlite_triggers(conn: Connection | Session) -> None:
    for name, _ in SQLITE_TRIGGERS:
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


def sync_sqlite_triggers(conn: Connection | Session) -> None:
    """On SQLite, make the change-log triggers exist iff ``rollups`` holds a row, in the caller's
    transaction (which must be the one that added or removed the rollups). Elsewhere, nothing."""
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    if bind.dialect.name != "sqlite":
        return
    wanted = conn.execute(text("SELECT EXISTS (SELECT 1 FROM rollups)")).scalar()
    present = sqlite_triggers_present(conn)
    if not wanted:
        if present:
            drop_sqlite_triggers(conn)
        return
    for name, create in SQLITE_TRIGGERS:
        if name not in present:
            conn.execute(text(create))
