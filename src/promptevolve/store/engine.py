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

**Timeouts** (``StoreTimeouts``, from ``PROMPTEVOLVE_DB_*``): no call waits on the store without a
bound, so a stalled database turns into ``StoreUnavailableError`` (the API's 503) in seconds instead of
the minutes of the drivers' defaults (issue 14: 20 s and more with PostgreSQL not answering). On
PostgreSQL: ``connect_timeout`` for opening a connection (a listener that accepts and never answers),
``tcp_user_timeout`` with the same value for a connection whose packets stop being acknowledged,
``statement_timeout`` and ``lock_timeout`` set for the session through the startup ``options`` (no
extra round trip; options already in the URL are kept and win), and the pool's wait for a free
connection. On SQLite: the busy timeout is the lock timeout (readers never wait under WAL; writers wait
for the write lock at most that long). SQLite has no statement timeout.

Every engine refuses text no database can hold (a NUL, a lone surrogate) before sending it
(``store.guard``), so both databases accept and refuse the same values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from promptevolve.core.errors import (
    ConfigurationError,
    PromptevolveError,
    StoreError,
    StoreUnavailableError,
    StoreValueError,
)
from promptevolve.core.settings import Settings
from promptevolve.store.guard import install_storable_guard, json_dumps
from promptevolve.store.notices import install_plan_notices

__all__ = [
    "Store",
    "StoreTimeouts",
    "create_store_engine",
    "describe_url",
    "is_read_only",
    "is_unavailable",
    "postgres_connect_args",
    "refused",
    "why_unavailable",
]

_IMMEDIATE = "promptevolve_begin_immediate"

#: The read transaction of a ``Store.snapshot()`` block, which the block's ``read()`` calls join.
_SNAPSHOT: ContextVar[tuple[Store, Session] | None] = ContextVar("promptevolve_snapshot", default=None)


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


@dataclass(frozen=True)
class StoreTimeouts:
    """How long the store may keep a caller waiting (see the module docstring); the defaults are the
    settings' defaults, so a ``Store.from_url`` without settings is bounded too."""

    connect_s: int = 2
    statement_s: float = 30.0
    lock_s: float = 3.0
    pool_s: float = 3.0

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreTimeouts:
        return cls(
            connect_s=settings.db_connect_timeout_s,
            statement_s=settings.db_statement_timeout_s,
            lock_s=settings.db_lock_timeout_s,
            pool_s=settings.db_pool_timeout_s,
        )


def _ms(seconds: float) -> int:
    return max(round(seconds * 1000), 1) if seconds > 0 else 0


#: PostgreSQL's "read-only SQL transaction": ``default_transaction_read_only``, a hot standby.
_READ_ONLY_SQLSTATE = "25006"


def is_read_only(exc: BaseException) -> bool:
    """Whether the database refused a write because it is read-only (PostgreSQL: a read-only database
    or a standby; SQLite: a read-only file or file system)."""
    orig = getattr(exc, "orig", None) or exc
    if getattr(orig, "sqlstate", None) == _READ_ONLY_SQLSTATE:
        return True
    return isinstance(orig, sqlite3.OperationalError) and "readonly database" in str(orig)


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "not now" (unreachable, timed out, locked, read-only), not "bad
    data": the rows are kept and retried, and the API answers 503."""
    if isinstance(exc, (OperationalError, PoolTimeoutError, sqlite3.OperationalError)) or is_read_only(exc):
        # sqlite3's own OperationalError: raised by the driver's cursor in bulk writes (store.writes),
        # outside SQLAlchemy's wrapping, for the same causes (locked, read-only, I/O).
        return True
    try:  # psycopg raises its own errors from COPY, outside SQLAlchemy's wrapping
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installs
        return False
    return isinstance(exc, psycopg.OperationalError)


def refused(exc: BaseException, message: str) -> StoreError:
    """The store's error for a write or read the database refused (not an outage: see ``is_unavailable``):
    ``StoreValueError`` when it refused a value (SQLAlchemy's ``DataError``, or a driver's own data error
    from a bulk write outside SQLAlchemy's wrapping), else ``StoreError``. The one place that looks at
    database errors, so callers (the API's 422) map promptevolve's types only."""
    if isinstance(exc, (DataError, sqlite3.DataError)):
        return StoreValueError(message)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installs
        return StoreError(message)
    return StoreValueError(message) if isinstance(exc, psycopg.DataError) else StoreError(message)


def why_unavailable(exc: BaseException, timeouts: StoreTimeouts) -> str:
    """The driver's message, with the timeout that fired and the setting that changes it."""
    orig = getattr(exc, "orig", None) or exc
    detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    sqlstate = getattr(orig, "sqlstate", None)
    if is_read_only(exc):
        hint = "the database refuses writes (read-only: a read-only file or file system, PostgreSQL's "
        hint += "default_transaction_read_only or a standby); calls go on, what they record waits"
    elif isinstance(exc, PoolTimeoutError):
        hint = f"no pooled connection came free within {timeouts.pool_s:g} s (PROMPTEVOLVE_DB_POOL_TIMEOUT_S)"
    elif sqlstate == "55P03" or "database is locked" in detail:
        hint = f"waited {timeouts.lock_s:g} s for a lock another transaction holds"
        hint += " (PROMPTEVOLVE_DB_LOCK_TIMEOUT_S)"
    elif sqlstate == "57014":
        hint = f"statement cancelled; the limit is {timeouts.statement_s:g} s"
        hint += " (PROMPTEVOLVE_DB_STATEMENT_TIMEOUT_S)"
    elif "timeout" in detail.lower() or "timed out" in detail.lower():
        # A connect timeout, or the TCP user timeout on an open connection whose packets go unanswered.
        hint = f"no answer within {timeouts.connect_s} s (PROMPTEVOLVE_DB_CONNECT_TIMEOUT_S)"
    else:
        return detail
    return f"{hint}: {detail}"


def _sqlite_pragmas(busy_ms: int, dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event, not the driver, decide when and how transactions start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def postgres_connect_args(url: URL, timeouts: StoreTimeouts) -> dict[str, Any]:
    """libpq parameters that bound every wait (module docstring); the URL's own ``options`` come last
    and so override ours."""
    ours = f"-c statement_timeout={_ms(timeouts.statement_s)} -c lock_timeout={_ms(timeouts.lock_s)}"
    given = url.query.get("options")
    given = " ".join(given) if isinstance(given, tuple) else given
    return {
        "connect_timeout": timeouts.connect_s,
        "tcp_user_timeout": timeouts.connect_s * 1000,
        "options": f"{ours} {given}" if given else ours,
    }


def create_store_engine(url: str, *, timeouts: StoreTimeouts | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the settings its database needs; a bad URL is a ConfigurationError."""
    bounds = timeouts or StoreTimeouts()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"bad database URL {url!r}: expected e.g. sqlite:///promptevolve.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    kwargs.setdefault("json_serializer", json_dumps)
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database not in (None, "", ":memory:"):  # memory databases use a pool without a wait
                kwargs.setdefault("pool_timeout", bounds.pool_s)
            engine = create_engine(parsed, **kwargs)
            event.listen(engine, "connect", partial(_sqlite_pragmas, _ms(bounds.lock_s)))
            event.listen(engine, "begin", _sqlite_begin)
            install_storable_guard(engine)
            return engine
        if parsed.get_backend_name() == "postgresql":
            connect_args = {**postgres_connect_args(parsed, bounds), **kwargs.pop("connect_args", {})}
            kwargs.setdefault("pool_timeout", bounds.pool_s)
            engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **kwargs)
            install_storable_guard(engine)
            return engine
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(f"bad database URL {describe_url(url)!r}: {exc}") from None
    raise ConfigurationError(
        f"unsupported database in URL {describe_url(url)!r}: promptevolve supports sqlite and postgresql"
    )


class Store:
    """The database, with one-transaction units of work."""

    def __init__(self, engine: Engine, timeouts: StoreTimeouts | None = None) -> None:
        self.engine = engine
        self.timeouts = timeouts or StoreTimeouts()
        self.url = engine.url.render_as_string(hide_password=False)
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)
        if engine.dialect.name == "postgresql":
            # Other processes' plan caches learn of every committed registry change (store.notices).
            install_plan_notices(self._writes)
            install_plan_notices(self._reads)

    @classmethod
    def from_url(cls, url: str, *, timeouts: StoreTimeouts | None = None, **engine_kwargs: Any) -> Store:
        bounds = timeouts or StoreTimeouts()
        return cls(create_store_engine(url, timeouts=bounds, **engine_kwargs), bounds)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The configured database with the configured timeouts (not migrated: see ``open_store``)."""
        return cls.from_url(settings.database_url, timeouts=StoreTimeouts.from_settings(settings))

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
        except SQLAlchemyError as exc:
            if is_unavailable(exc):
                raise StoreUnavailableError(
                    f"the store at {describe_url(self.url)} failed: {why_unavailable(exc, self.timeouts)}"
                ) from exc
            raise refused(exc, f"store error at {describe_url(self.url)}: {exc}") from exc

    def write(self) -> AbstractContextManager[Session]:
        """A write transaction (takes the write lock at BEGIN on SQLite)."""
        return self._session(self._writes)

    def read(self) -> AbstractContextManager[Session]:
        """A read transaction; on SQLite under WAL it never waits for a writer. Inside a ``snapshot()``
        of this store (same thread or task), the snapshot's transaction."""
        pinned = _SNAPSHOT.get()
        if pinned is not None and pinned[0] is self:
            return nullcontext(pinned[1])
        return self._session(self._reads)

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """One read transaction that every ``read()`` of this store in the block joins, so that reads
        made by several modules (the autopilot's facts: registry, budget, drift, decision log) see one
        state of the database instead of one each. PostgreSQL runs it ``REPEATABLE READ`` (under the
        default ``READ COMMITTED`` each statement would still see its own); SQLite under WAL keeps the
        snapshot of the transaction's first read. Writes in the block are their own transactions."""
        pinned = _SNAPSHOT.get()
        if pinned is not None and pinned[0] is self:
            yield pinned[1]
            return
        with self._session(self._reads) as session:
            if self.dialect == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            token = _SNAPSHOT.set((self, session))
            try:
                yield session
            finally:
                _SNAPSHOT.reset(token)

    def ping(self) -> None:
        """Raise StoreError if the database cannot be reached."""
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
