"""The rollups' change-log triggers: present only while a rollup exists, on both databases.

Migration 0009 logs every change to ``executions``, ``feedback``, ``scores`` and ``exposures`` that a
rollup covers into ``rollup_changes`` (``experiments.rollups`` reads it). Even when no rollup exists the
triggers cost every insert: SQLite has only row triggers, and a row trigger costs ~8 µs per inserted row
even when its ``WHEN`` clause finds no rollup (the executions insert went from ~7 to ~15 µs of CPU per
row, halving SQLite's ingest); PostgreSQL runs them once per statement, but their transition table
copies every inserted row (~0.9 µs of the server's CPU per row of ~5–7; BENCHMARKS.md, "Ingest"). So the
triggers exist only while the ``rollups`` table holds a row: ``sync_triggers`` creates them (or drops
them) **in the transaction that registers (or drops) rollups**:

- SQLite serialises writers and re-reads the schema at each transaction's start, so every write
  committed after a registration runs the triggers, and every write committed before it is in the build
  that follows (``experiments.rollups.prepare``);
- PostgreSQL: the registration first locks the four tables in ``SHARE ROW EXCLUSIVE`` mode (what
  ``CREATE TRIGGER`` takes; taken in one statement, parents first as the writers take them), which waits
  for every writer in flight (those commit before it, and are in the build) and holds back later ones
  until it commits (they then run the new triggers, whose functions see the registration). Dropping
  needs ``ACCESS EXCLUSIVE`` on the tables, which queues every reader behind it: it is tried with a short
  lock timeout (``DROP_WAIT_MS``), and when it cannot get the locks the triggers stay (correct, only
  slower) until a later look drops them.

Rollups thus stay exact, and with no rollup an insert pays nothing. Migration 0010 applies the rule to
existing SQLite databases, 0011 to PostgreSQL ones (the trigger functions stay: only triggers come and
go). The triggers keep 0009's guards (``WHEN EXISTS (SELECT 1 FROM rollups)``, ``IF NOT EXISTS``), so
rows deleted from ``rollups`` by other means than ``prepare`` leave correct triggers until the next
``prepare`` drops them.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

__all__ = [
    "DROP_WAIT_MS",
    "POSTGRES_TRIGGERS",
    "SQLITE_TRIGGERS",
    "create_triggers",
    "drop_triggers",
    "sync_triggers",
    "triggers_present",
]

#: How long dropping the triggers on PostgreSQL may wait for its locks (readers queue behind it).
DROP_WAIT_MS = 200
#: The tables whose changes are logged, parents first (the order the batch writer writes them in).
_TABLES = ("executions", "exposures", "feedback", "scores")

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


_TRANSITION = {
    "insert": "NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
}

#: (name, table, CREATE TRIGGER statement) of every change-log trigger on PostgreSQL, as 0009 wrote them;
#: their functions (``rollup_log_<table>_<op>()``, also 0009's) stay in place.
POSTGRES_TRIGGERS: tuple[tuple[str, str, str], ...] = tuple(
    (
        f"rollup_log_{table}_{op_name}",
        table,
        f"CREATE TRIGGER rollup_log_{table}_{op_name} AFTER {op_name.upper()} ON {table} "
        f"REFERENCING {_TRANSITION[op_name]} FOR EACH STATEMENT "
        f"EXECUTE FUNCTION rollup_log_{table}_{op_name}()",
    )
    for table, ops in (
        ("executions", ("insert", "update", "delete")),
        ("feedback", ("insert", "update", "delete")),
        ("scores", ("insert", "update", "delete")),
        ("exposures", ("insert",)),
    )
    for op_name in ops
)


def _dialect(conn: Connection | Session) -> str:
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return bind.dialect.name


def triggers_present(conn: Connection | Session) -> set[str]:
    """The names of the change-log triggers the database has now (in the current schema)."""
    if _dialect(conn) == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rollup_log_%'"
    else:
        tables = ", ".join(f"'{t}'::regclass" for t in _TABLES)
        sql = f"SELECT tgname FROM pg_trigger WHERE tgrelid IN ({tables}) AND tgname LIKE 'rollup_log_%'"
    return set(conn.execute(text(sql)).scalars())


def create_triggers(conn: Connection | Session) -> None:
    """Create the missing change-log triggers (PostgreSQL: after locking the tables, see above)."""
    present = triggers_present(conn)
    if _dialect(conn) == "sqlite":
        missing = [create for name, create in SQLITE_TRIGGERS if name not in present]
    else:
        missing = [create for name, _, create in POSTGRES_TRIGGERS if name not in present]
        if missing:
            conn.execute(text(f"LOCK TABLE {', '.join(_TABLES)} IN SHARE ROW EXCLUSIVE MODE"))
    for create in missing:
        conn.execute(text(create))


def drop_triggers(conn: Connection | Session, *, wait_ms: int | None = None) -> bool:
    """Drop the change-log triggers; False if PostgreSQL could not lock the tables within ``wait_ms``
    (None: the session's own lock timeout), in which case they all stay."""
    present = triggers_present(conn)
    if _dialect(conn) == "sqlite":
        for name, _ in SQLITE_TRIGGERS:
            if name in present:
                conn.execute(text(f"DROP TRIGGER {name}"))
        return True
    drops = [(name, table) for name, table, _ in POSTGRES_TRIGGERS if name in present]
    if not drops:
        return True
    previous = conn.execute(text("SHOW lock_timeout")).scalar()
    if wait_ms is not None:
        conn.execute(text(f"SET LOCAL lock_timeout = {int(wait_ms)}"))
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(f"LOCK TABLE {', '.join(_TABLES)} IN ACCESS EXCLUSIVE MODE"))
        for name, table in drops:
            conn.execute(text(f"DROP TRIGGER {name} ON {table}"))
    except OperationalError as exc:
        savepoint.rollback()
        if not _lock_not_available(exc):
            raise
        return False
    else:
        savepoint.commit()
    finally:
        if wait_ms is not None:
            conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": previous})
    return True


def _lock_not_available(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "55P03"  # lock_not_available


def sync_triggers(conn: Connection | Session) -> None:
    """Make the change-log triggers exist iff ``rollups`` holds a row, in the caller's transaction
    (which must be the one that added or removed the rollups)."""
    wanted = conn.execute(text("SELECT EXISTS (SELECT 1 FROM rollups)")).scalar()
    if wanted:
        create_triggers(conn)
    else:
        drop_triggers(conn, wait_ms=DROP_WAIT_MS)
