"""The batch writer: a bounded in-memory queue drained by one background thread.

The caller's thread only appends to a deque (no I/O, no waiting). The writer wakes every
``interval_s``, or as soon as a batch is full, takes up to ``batch_size`` records, and writes each
table's rows in one bulk insert (COPY on PostgreSQL). Rules:

- **never block the caller**: when the queue is full, the *oldest* record is dropped and counted
  (recent data is worth more than old, and the caller's latency is worth more than both);
- **store down**: the batch goes back to the front of the queue and is retried after ``retry_s``; the
  queue's bound still holds, so a long outage costs the oldest records, counted, never memory;
- **a batch the store rejects** (a constraint violation, not an outage) is split in halves down to
  single rows, so one bad record cannot poison the others; rejected rows are counted;
- ``flush()`` waits until everything queued before it is written (or the timeout passes), and the
  interpreter's exit drains the queue through ``atexit``.

Rows of tables that reference others are written parents first (executions before exposures, feedback
and scores), so foreign keys hold within a batch.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table

from promptevolve.core.errors import StoreError, StoreUnavailableError
from promptevolve.store.engine import Store
from promptevolve.store.tables import Base
from promptevolve.store.writes import bulk_insert

__all__ = ["Recorder", "RecorderStats"]

#: Write order within a batch: parents before children.
_TABLE_ORDER = ("executions", "exposures", "feedback", "scores")


@dataclass
class RecorderStats:
    enqueued: int = 0
    written: int = 0
    dropped: int = 0
    rejected: int = 0
    write_failures: int = 0
    last_error: str | None = None


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        capacity: int = 10_000,
        batch_size: int = 1_000,
        interval_s: float = 0.2,
        retry_s: float = 1.0,
        start: bool = True,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.retry_s = retry_s
        self.stats = RecorderStats()
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._pending_ids: dict[str, int] = {}
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._tables: dict[str, Table] = {name: Base.metadata.tables[name] for name in _TABLE_ORDER}
        if start:
            self.start()
        # atexit holds only a weak reference: a recorder nobody uses can still be collected.
        ref = weakref.ref(self)
        atexit.register(lambda: (r := ref()) is not None and r.close(timeout_s=10.0))

    # --- the caller's side ---------------------------------------------------------------------------

    def enqueue(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row for ``table``; never blocks, drops the oldest row when full."""
        with self._cond:
            if len(self._queue) >= self.capacity:
                old_table, old = self._queue.popleft()
                self._forget(old_table, old)
                self.stats.dropped += 1
            self._queue.append((table, row))
            if table == "executions":
                self._pending_ids[row["id"]] = self._pending_ids.get(row["id"], 0) + 1
            self.stats.enqueued += 1
            if len(self._queue) >= self.batch_size:
                self._cond.notify_all()

    def is_pending(self, execution_id: str) -> bool:
        """Whether an execution is still queued or being written (not yet readable from the store)."""
        with self._cond:
            return execution_id in self._pending_ids

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight

    def flush(self, timeout_s: float | None = 10.0) -> bool:
        """Wait until everything queued so far is written; False if the timeout passed first."""
        if self._thread is None or not self._thread.is_alive():
            self._drain_inline()
            return self.pending() == 0
        with self._cond:
            self._cond.notify_all()
            return self._cond.wait_for(lambda: not self._queue and self._in_flight == 0, timeout=timeout_s)

    def close(self, timeout_s: float | None = 10.0) -> bool:
        """Drain the queue and stop the writer; later records are written inline by ``flush``."""
        drained = self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        return drained

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="promptevolve-recorder", daemon=True)
        self._thread.start()

    # --- the writer's side ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._closed or len(self._queue) >= self.batch_size, timeout=self.interval_s
                )
                if self._closed and not self._queue:
                    return
                batch = self._take()
            if batch and not self._write(batch):
                with self._cond:
                    self._cond.wait(timeout=self.retry_s)

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        n = min(self.batch_size, len(self._queue))
        batch = [self._queue.popleft() for _ in range(n)]
        self._in_flight = n
        return batch

    def _write(self, batch: list[tuple[str, dict[str, Any]]]) -> bool:
        """Write a batch; on an outage put it back and return False."""
        try:
            self._write_rows(batch)
        except StoreUnavailableError as exc:
            with self._cond:
                self.stats.write_failures += 1
                self.stats.last_error = str(exc)
                room = self.capacity - len(self._queue)
                keep = batch[len(batch) - room :] if room < len(batch) else batch
                for table, row in batch[: len(batch) - len(keep)]:
                    self._forget(table, row)
                    self.stats.dropped += 1
                self._queue.extendleft(reversed(keep))
                self._in_flight = 0
                self._cond.notify_all()
            return False
        with self._cond:
            for table, row in batch:
                self._forget(table, row)
            self._in_flight = 0
            self._cond.notify_all()
        return True

    def _write_rows(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, row in batch:
            by_table.setdefault(table, []).append(row)
        for name in _TABLE_ORDER:
            rows = by_table.get(name)
            if rows:
                self._insert_isolating_bad_rows(name, rows)

    def _insert_isolating_bad_rows(self, name: str, rows: list[dict[str, Any]]) -> None:
        try:
            self.stats.written += bulk_insert(self.store, self._tables[name], _uniform(rows))
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            if len(rows) == 1:
                self.stats.rejected += 1
                self.stats.last_error = str(exc)
                return
            half = len(rows) // 2
            self._insert_isolating_bad_rows(name, rows[:half])
            self._insert_isolating_bad_rows(name, rows[half:])

    def _drain_inline(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
            if not batch or not self._write(batch):
                return

    def _forget(self, table: str, row: dict[str, Any]) -> None:
        if table != "executions":
            return
        count = self._pending_ids.get(row["id"], 0) - 1
        if count <= 0:
            self._pending_ids.pop(row["id"], None)
        else:
            self._pending_ids[row["id"]] = count


def _uniform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row the same keys (bulk inserts need one column list)."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    if all(len(row) == len(keys) for row in rows):
        return rows
    return [{k: row.get(k) for k in keys} for row in rows]
