"""Schema migrations with Alembic, run from the package (no alembic.ini for users to find).

``open_store`` is how every surface opens the database: it checks the schema revision and either
migrates (the embedded default) or refuses with the command that fixes it. On PostgreSQL a
transaction-scoped advisory lock serialises migrations, so several servers starting at once upgrade
the schema exactly once. A migration runs without the session's statement and lock timeouts
(``engine.py``): building an index on a large table takes longer than any query should, and the servers
waiting for the advisory lock must wait for the whole migration.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from promptevolve.core.errors import SchemaOutOfDateError, StoreError, StoreUnavailableError
from promptevolve.core.settings import Settings
from promptevolve.store.engine import Store, describe_url, why_unavailable

__all__ = [
    "current_revision",
    "downgrade",
    "head_revision",
    "open_store",
    "revisions",
    "schema_status",
    "upgrade",
]

_MIGRATION_LOCK_KEY = 0x70726F6D  # "prom": any constant shared by every promptevolve process


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("promptevolve.store") / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def _revision_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(store: Store) -> str | None:
    try:
        with store.engine.connect() as conn:
            return _revision_on(conn)
    except (OperationalError, PoolTimeoutError) as exc:
        raise StoreUnavailableError(
            f"cannot reach the store at {describe_url(store.url)}: {why_unavailable(exc, store.timeouts)}"
        ) from None


def schema_status(store: Store) -> tuple[str | None, str]:
    """(current revision, head revision)."""
    return current_revision(store), head_revision()


def revisions() -> list[str]:
    """Every revision the package ships, oldest first."""
    script = ScriptDirectory.from_config(_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _sqlite_foreign_keys(conn: Connection, on: bool) -> None:
    # On the driver's connection, outside any transaction: inside one SQLite ignores the pragma.
    raw = conn.connection.dbapi_connection
    assert raw is not None  # a checked-out connection always holds its driver's connection
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _migrate(store: Store, step: Callable[[Config], None]) -> str | None:
    """Run ``step`` in one transaction. On SQLite, foreign keys are off while it runs: Alembic's batch
    mode rebuilds a table by copying it and dropping the original, and with the keys on, dropping
    ``executions`` cascades to every feedback and score row (migration 0003 lost them all that way). The
    keys are checked once the step is done, inside the transaction, so a step that breaks one rolls back."""
    sqlite = store.dialect == "sqlite"
    try:
        with store.engine.connect().execution_options(promptevolve_begin_immediate=True) as conn:
            if sqlite:
                _sqlite_foreign_keys(conn, on=False)
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(text("SET LOCAL statement_timeout = 0"))
                        conn.execute(text("SET LOCAL lock_timeout = 0"))
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
                    step(_config(conn))
                    if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
                        raise StoreError(f"the migration would break foreign keys: {broken[:5]}")
            finally:
                if sqlite:
                    _sqlite_foreign_keys(conn, on=True)
            return _revision_on(conn)
    except (OperationalError, PoolTimeoutError) as exc:
        raise StoreUnavailableError(
            f"cannot migrate the store at {describe_url(store.url)}: {why_unavailable(exc, store.timeouts)}"
        ) from None
    except SQLAlchemyError as exc:
        raise StoreError(f"migration failed at {describe_url(store.url)}: {exc}") from None


def upgrade(store: Store, revision: str = "head") -> str | None:
    """Migrate to ``revision`` in one transaction; returns the revision now current."""
    return _migrate(store, lambda cfg: command.upgrade(cfg, revision))


def downgrade(store: Store, revision: str) -> str | None:
    """Migrate down to ``revision`` (``base``: no schema) in one transaction; returns the revision now
    current. What the older schema has no place for (a table or column it lacks) is dropped with it."""
    return _migrate(store, lambda cfg: command.downgrade(cfg, revision))


def open_store(settings: Settings) -> Store:
    """Open the configured store, migrated to the head revision or refused with how to fix it."""
    store = Store.from_settings(settings)
    current, head = schema_status(store)
    if current == head:
        return store
    auto = settings.auto_migrate if settings.auto_migrate is not None else store.dialect == "sqlite"
    if auto:
        upgrade(store)
        return store
    store.dispose()
    state = "has no promptevolve schema" if current is None else f"is at schema revision {current}"
    raise SchemaOutOfDateError(
        f"the database {describe_url(settings.database_url)} {state}, but this promptevolve needs "
        f"{head}: run `promptevolve db upgrade` (or set PROMPTEVOLVE_AUTO_MIGRATE=1)"
    )
