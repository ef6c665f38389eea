"""Group commit: the rows of every request waiting to be acknowledged, written in one transaction.

A request the API acknowledges only once its rows are committed (``run``'s execution, a feedback)
pays for a commit: a WAL flush on PostgreSQL, the database's one write lock on SQLite. One transaction
per request capped a server at 140–210 requests a second, and on SQLite made the requests queue on the
lock (p99 near a second at 16 connections, BENCHMARKS.md). Group commit, as databases do it for their
own log (PostgreSQL's ``commit_delay``, MySQL's binlog group commit), shares that cost: one writer takes
every write queued, commits them in one transaction, then releases every request that waited on them.
There is no timer: while a batch is being written the next one gathers, so batches grow with the load
and an idle server commits a lone request at once.

The writer is a task on the server's event loop, not a thread. A thread was tried first: each round
trip to the database hands the GIL back and forth with a busy event loop, and a PostgreSQL batch (five
round trips) took 5 ms on an idle loop and 60 ms on a busy one, which bounds 16 connections to a few
hundred requests a second. So, per database:

- **PostgreSQL**: its own ``psycopg.AsyncConnection``, awaited on the loop (no thread, no GIL
  hand-off); reconnected after an outage;
- **SQLite**: the transaction runs on the loop itself (a batch is a few hundred microseconds of work:
  WAL, no fsync at commit), with a busy timeout of zero; if another process holds the write lock, the
  batch is retried in a worker thread that waits for it as every other write does, so a long writer
  elsewhere never freezes the loop.

Why it is written here: the pieces are the standard library's and psycopg's, and what a batch does is
this project's: insert the rows parents first, and check in the same transaction that the API key is
not revoked and that the execution a feedback names exists. The libraries that batch (SQLAlchemy's
``insertmanyvalues``, the SDK's recorder) batch one caller's rows, not many callers' waits. The tables
and the SQL of the two checks belong to their parts (``tracking.telemetry``, ``access.keys``); this
module owns only the batching.

What a caller may rely on (``await GroupCommit.submit(write)``):

- it returns only once the write's transaction has committed: an acknowledged write survives the
  process being killed the next instant;
- it raises ``NotFoundError`` when ``write.requires`` names an execution that is neither stored nor
  written in the same batch, ``AuthenticationError`` when ``write.key`` has been revoked,
  ``StoreUnavailableError`` when the store is unreachable (and then hands ``spill=True`` writes to
  ``on_unavailable``, which the API points at the SDK's recorder so they are retried until the store
  is back), and ``StoreError`` when the database rejects the write's rows;
- one bad write fails alone: a batch the database rejects is written again one write at a time;
- writes are committed in submission order, each batch's tables parents first (executions, exposures,
  feedback, scores), so feedback submitted after its execution's write finds it.

A caller that stops waiting (a timeout, a client that went away) does not withdraw its write.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Connection, Table
from sqlalchemy.engine import make_url

from promptevolve.access import ApiKeyInfo, AuthenticationError
from promptevolve.access.keys import UNREVOKED_KEYS_SQL
from promptevolve.core.errors import StoreError, StoreUnavailableError
from promptevolve.store.engine import (
    Store,
    describe_url,
    is_read_only,
    postgres_connect_args,
    refused,
    why_unavailable,
)
from promptevolve.store.writes import (
    StoreBusyError,
    copy_rows,
    insert_rows,
    write_transaction,
)
from promptevolve.tracking.feedback import unknown_execution
from promptevolve.tracking.telemetry import STORED_EXECUTIONS_SQL, TABLE_ORDER, telemetry_tables

__all__ = ["GroupCommit", "GroupCommitStats", "Row", "Write"]

logger = logging.getLogger("promptevolve.api")

Row = tuple[str, dict[str, Any]]
"""A row as the SDK's recorder queues it: (table name, column values)."""

Outcome = BaseException | None


@dataclass(frozen=True)
class Write:
    """Rows one request needs committed. ``requires``: an execution that must exist (feedback's).
    ``key``: the API key the request came with, which must not be revoked when the rows commit (the
    API checks keys from a cache, ``api.keycache``; this check keeps a revocation immediate).
    ``spill``: on an outage, hand the rows to ``on_unavailable`` rather than lose them."""

    rows: Sequence[Row]
    requires: str | None = None
    key: ApiKeyInfo | None = None
    spill: bool = False


@dataclass
class GroupCommitStats:
    batches: int = 0
    writes: int = 0
    largest_batch: int = 0
    failures: int = 0
    spilled: int = 0
    last_error: str | None = field(default=None)


@dataclass(frozen=True)
class _Batch:
    """What one transaction needs: which keys and executions to check, then which rows to insert."""

    writes: list[Write]

    def keys(self) -> set[int]:
        return {w.key.id for w in self.writes if w.key is not None}

    def wanted(self) -> set[str]:
        """Executions required that the batch does not write itself."""
        written = {row["id"] for w in self.writes for table, row in w.rows if table == "executions"}
        return {w.requires for w in self.writes if w.requires is not None} - written

    def refusals(self, valid_keys: set[int], missing: set[str]) -> list[Outcome]:
        """Why each write may not be written (None: it may)."""
        outcomes: list[Outcome] = []
        for w in self.writes:
            if w.key is not None and w.key.id not in valid_keys:
                revoked = f"API key pe_{w.key.prefix}… was revoked; create a new one"
                outcomes.append(AuthenticationError(revoked))
            elif w.requires is not None and w.requires in missing:
                outcomes.append(unknown_execution(w.requires))
            else:
                outcomes.append(None)
        return outcomes

    def rows(self, outcomes: list[Outcome]) -> list[tuple[str, list[dict[str, Any]]]]:
        """The rows of the writes allowed, by table, parents first."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for write, refusal in zip(self.writes, outcomes, strict=True):
            if refusal is None:
                for table, row in write.rows:
                    by_table.setdefault(table, []).append(row)
        return [(name, by_table[name]) for name in TABLE_ORDER if name in by_table]


@dataclass
class _Waiting:
    write: Write
    future: asyncio.Future[None]


class GroupCommit:
    """Commits the writes of many requests together (see the module docstring); one per event loop."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 1_000,
        on_unavailable: Callable[[Sequence[Row]], None] | None = None,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.stats = GroupCommitStats()
        self._on_unavailable = on_unavailable
        self._tables: dict[str, Table] = telemetry_tables()
        self._queue: deque[_Waiting] = deque()
        # PostgreSQL: two transactions in flight, each on its own connection, so that a batch gathers
        # while the previous one waits for its WAL flush (~6 ms here), and the server flushes both at
        # once. SQLite has one write lock: a second writer could only wait for it.
        self.writers = 2 if store.dialect == "postgresql" else 1
        self._writers: set[asyncio.Task[None]] = set()
        self._idle_pg: list[psycopg.AsyncConnection[Any]] = []
        self._closed = False

    async def submit(self, write: Write) -> None:
        """Wait until ``write`` is committed (or raise why it was not)."""
        if self._closed:
            raise StoreUnavailableError("the server is stopping: retry on another instance")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(write, future))
        if len(self._writers) < self.writers:
            task = asyncio.get_running_loop().create_task(self._drain())
            self._writers.add(task)
            task.add_done_callback(self._writers.discard)
        await future

    async def aclose(self) -> None:
        """Commit what is queued, then close the writer's connection."""
        self._closed = True
        await asyncio.gather(*self._writers)
        while self._idle_pg:
            await self._idle_pg.pop().close()

    # --- the writer ----------------------------------------------------------------------------------

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # requests already on their way to submit() join this first batch
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            outcomes = await self._commit([w.write for w in batch])
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if waiting.future.done():  # the waiter gave up (timeout, disconnect); its write stands
                    continue
                if outcome is None:
                    waiting.future.set_result(None)
                else:
                    waiting.future.set_exception(outcome)

    async def _commit(self, writes: list[Write]) -> list[Outcome]:
        """Commit the batch in one transaction; if the database rejects it, each write on its own."""
        try:
            return await self._transaction(_Batch(writes))
        except StoreUnavailableError as exc:
            return self._unavailable(writes, exc)
        except StoreError as exc:
            if len(writes) == 1:
                return [self._failed(exc)]
        except Exception as exc:  # a bug, not the store: every waiter must still hear of it
            logger.exception("group commit failed")
            return [self._failed(exc)] * len(writes)
        outcomes: list[Outcome] = []
        for write in writes:
            try:
                outcomes.extend(await self._transaction(_Batch([write])))
            except StoreUnavailableError as exc:
                outcomes.extend(self._unavailable([write], exc))
            except Exception as exc:
                outcomes.append(self._failed(exc))
        return outcomes

    async def _transaction(self, batch: _Batch) -> list[Outcome]:
        if self.store.dialect == "postgresql":
            outcomes = await self._postgres(batch)
        else:
            try:
                outcomes = self._sqlite(batch, wait=False)
            except StoreBusyError:  # another process writes: wait for the lock in a thread, not on the loop
                outcomes = await asyncio.to_thread(self._sqlite, batch, wait=True)
        self.stats.batches += 1
        self.stats.writes += len(batch.writes)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch.writes))
        return outcomes

    def _sqlite(self, batch: _Batch, *, wait: bool) -> list[Outcome]:
        with write_transaction(self.store, "group commit", wait=wait) as conn:
            keys, wanted = batch.keys(), batch.wanted()
            valid = _sqlite_ids(conn, UNREVOKED_KEYS_SQL, keys) if keys else set()
            missing = wanted - _sqlite_ids(conn, STORED_EXECUTIONS_SQL, wanted) if wanted else set()
            outcomes = batch.refusals(valid, missing)
            for name, rows in batch.rows(outcomes):
                insert_rows(conn, self._tables[name], rows)
        return outcomes

    async def _postgres(self, batch: _Batch) -> list[Outcome]:
        conn = self._idle_pg.pop() if self._idle_pg else None
        try:
            if conn is None:
                url = make_url(self.store.url)
                # The engine's bounds (connect, TCP user, statement and lock timeouts): a connection
                # whose packets are dropped fails in seconds, not after the kernel's ~15 minutes.
                bounds = postgres_connect_args(url, self.store.timeouts)
                url = url.difference_update_query(["options"])  # merged into bounds["options"]
                conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
                conn = await psycopg.AsyncConnection.connect(conninfo, **bounds)
            async with conn.transaction(), conn.cursor() as cursor:
                keys, wanted = batch.keys(), batch.wanted()
                valid = await _pg_ids(cursor, UNREVOKED_KEYS_SQL, keys) if keys else set()
                missing = wanted - await _pg_ids(cursor, STORED_EXECUTIONS_SQL, wanted) if wanted else set()
                outcomes = batch.refusals(valid, missing)
                for name, rows in batch.rows(outcomes):
                    plan = copy_rows(self._tables[name], rows)
                    async with cursor.copy(plan.statement) as copy:
                        copy.set_types(plan.types)
                        for values in plan.values:
                            await copy.write_row(values)
        except psycopg.OperationalError as exc:
            if conn is not None:
                await conn.close()
            where = describe_url(self.store.url)
            why = why_unavailable(exc, self.store.timeouts)
            raise StoreUnavailableError(f"cannot write to the store at {where}: {why}") from None
        except psycopg.Error as exc:
            if conn is not None and not conn.broken:
                self._idle_pg.append(conn)
            if is_read_only(exc):  # not the rows' fault: kept (spilled) and retried like an outage
                why = why_unavailable(exc, self.store.timeouts)
                raise StoreUnavailableError(
                    f"cannot write to the store at {describe_url(self.store.url)}: {why}"
                ) from None
            raise refused(exc, f"group commit failed: {type(exc).__name__}: {exc}") from None
        self._idle_pg.append(conn)
        return outcomes

    def _unavailable(self, writes: list[Write], exc: StoreUnavailableError) -> list[Outcome]:
        self._failed(exc)
        spilled = [row for w in writes if w.spill for row in w.rows]
        if spilled and self._on_unavailable is not None:
            self._on_unavailable(spilled)
            self.stats.spilled += len(spilled)
        return [exc] * len(writes)

    def _failed(self, exc: BaseException) -> BaseException:
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        return exc


def _sqlite_ids(conn: Connection, query: str, ids: set[Any]) -> set[Any]:
    """The first column of ``query`` whose ``{in_}`` reads "in ``ids``", on the driver's own cursor (a
    SQLAlchemy ``in_()`` is compiled again for each length of list, a cost paid by every batch)."""
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always holds its driver's connection
    cursor = raw.cursor()
    try:
        cursor.execute(query.format(in_=f"IN ({', '.join('?' * len(ids))})"), tuple(ids))
        return {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()


async def _pg_ids(cursor: psycopg.AsyncCursor[Any], query: str, ids: set[Any]) -> set[Any]:
    await cursor.execute(query.format(in_="= ANY(%s)"), (list(ids),))
    return {row[0] for row in await cursor.fetchall()}
