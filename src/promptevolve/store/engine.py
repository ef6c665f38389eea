"""Opening the store: engines, connection settings per database, and units of work.

SQLite is the embedded default and needs care to behave like a server database:
WAL (readers never block the writer), foreign keys on (off by default in SQLite), a busy timeout, and
write transactions that take the write lock when they *begin* (``BEGIN IMMEDIATE``). Without the last,
two processes that both read then write deadlock on the lock upgrade and one fails with "database is
locked"; with it, the second simply waits. PostgreSQL takes row locks instead (``SELECT … FOR UPDATE``
on the prompt row in the registry), so both give the same guarantee: invariants checked inside one
transaction hold across processes.

``Store.write()`` and ``Store.read()`` are the only ways to get a session: one transaction each,
committed on success, rolled back on any error, so a refused command never leaves half a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from promptevolve.core.errors import ConfigurationError, PromptevolveError, StoreError, StoreUnavailableError
from promptevolve.store.notices import install_plan_notices

__all__ = ["Store", "create_store_engine", "describe_url"]

_IMMEDIATE = "promptevolve_begin_immediate"


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event, not the driver, decide when and how transactions start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the settings its database needs; a bad URL is a ConfigurationError."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"bad database URL {url!r}: expected e.g. sqlite:///promptevolve.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        if parsed.get_backend_name() == "postgresql":
            return create_engine(parsed, pool_pre_ping=True, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(f"bad database URL {describe_url(url)!r}: {exc}") from None
    raise ConfigurationError(
        f"unsupported database in URL {describe_url(url)!r}: promptevolve supports sqlite and postgresql"
    )


class Store:
    """The database, with one-transaction units of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)
        if engine.dialect.name == "postgresql":
            # Other processes' plan caches learn of every committed registry change (store.notices).
            install_plan_notices(self._writes)
            install_plan_notices(self._reads)

    @classmethod
    def from_url(cls, url: str, **engine_kwargs: Any) -> Store:
        return cls(create_store_engine(url, **engine_kwargs))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def _session(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        try:
            with factory() as session, session.begin():
                yield session
        except PromptevolveError:
            raise
        except OperationalError as exc:
            raise StoreUnavailableError(
                f"the store at {describe_url(self.url)} failed: {exc.orig or exc}".strip()
            ) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"store error at {describe_url(self.url)}: {exc}") from exc

    def write(self) -> AbstractContextManager[Session]:
        """A write transaction (takes the write lock at BEGIN on SQLite)."""
        return self._session(self._writes)

    def read(self) -> AbstractContextManager[Session]:
        """A read transaction; on SQLite under WAL it never waits for a writer."""
        return self._session(self._reads)

    def ping(self) -> None:
        """Raise StoreError if the database cannot be reached."""
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
