"""The batch writer: an in-memory queue drained by one background thread.

The caller's thread only appends to a deque (no I/O, no waiting). The writer wakes every
``interval_s``, or as soon as ``batch_size`` records wait, takes **everything queued** (up to
``max_batch``) and writes each table's rows in one bulk insert (COPY on PostgreSQL): the more the caller
produces, the larger the batches, so a healthy store keeps up with what one Python thread can produce.
Rules:

- **never block the caller**: the queue grows without blocking up to ``capacity`` rows (100,000 by
  default: about 8 s of one thread calling ``run()`` flat out, 100–200 MB at most); only beyond it the
  *oldest* record is dropped (recent data is worth more than old, and the caller's latency is worth
  more than both);
- **pace, don't drop, while the store keeps up**: the writer shares the GIL with the caller, and one
  thread calling ``track()`` flat out (~15–25k rows/s) can starve it below what SQLite takes
  (BENCHMARKS.md, "The recorder under sustained load": half the rows dropped in 60 s with the store
  healthy). So once the queue is ``pace_at`` full (half by default) *and* the store is taking writes (the
  last write succeeded and the one in progress started less than ``pace_stall_s`` ago), each ``record``
  sleeps ``pace_s`` (0.5 ms), handing the GIL to the writer: the caller slows to the store's pace
  instead of losing rows. A store that refuses writes, or a write stalled longer than ``pace_stall_s``,
  never slows the caller: rows are then dropped beyond ``capacity``, and reported;
- **drops are visible**: every dropped or rejected row is counted in ``stats``; the writer thread calls
  ``on_drop(DropReport)`` with the rows lost since its last report (never on the caller's thread, never
  under a lock; an exception it raises is logged), and logs one warning at most every ``warn_every_s``
  on the ``promptevolve.recorder`` logger;
- **store down**: the batch goes back to the front of the queue and is retried after an exponential
  backoff with jitter (``retry_base_s`` doubling up to ``retry_s``, each wait drawn in [½, 1] of it): a
  store that refuses connections sees about one attempt a second, however fast rows arrive;
- **a batch the store rejects** (a constraint violation, not an outage) is split in halves down to
  single rows, so one bad record cannot poison the others; rejected rows are counted and reported;
- ``flush()`` waits until everything queued before it is written (or the timeout passes); the
  interpreter's exit drains the queue through ``atexit``;
- **SIGTERM** (what systemd, Docker and Kubernetes send before killing): if the application has not set
  a SIGTERM handler when the first recorder starts in the main thread, the recorder installs one that
  drains every live recorder for at most ``sigterm_drain_s`` (5 s by default), then restores the
  previous (default) handler and re-sends the signal, so the process still ends as terminated by
  SIGTERM. An application with its own handler keeps it and should call ``flush()`` (or ``close()``)
  in it; ``handle_sigterm=False`` opts out.

The queue holds typed records (``tracking.records``: executions, exposures, scores), routed to their
tables by type when a batch is written, parents first (executions before exposures and scores), so
foreign keys hold within a batch. A record is a tuple of its table's columns in order, and is written as
it is (``store.writes.bulk_insert_values``): no dict per row.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import signal
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Table

from promptevolve.core.errors import StoreError, StoreUnavailableError
from promptevolve.store.engine import Store
from promptevolve.store.tables import Base
from promptevolve.store.writes import bulk_insert_values
from promptevolve.tracking.records import RECORD_TYPES, ExecutionRecord, Record

__all__ = ["DropReport", "Recorder", "RecorderStats", "retry_delay"]

logger = logging.getLogger("promptevolve.recorder")

DropReason = Literal["queue_full", "rejected"]


@dataclass
class RecorderStats:
    enqueued: int = 0
    written: int = 0
    dropped: int = 0
    rejected: int = 0
    write_failures: int = 0
    peak_queue: int = 0
    paced: int = 0  # records whose queueing waited ``pace_s`` for the writer (store healthy, queue deep)
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class DropReport:
    """Rows lost since the previous report. ``queue_full``: the queue was at capacity (the store is down
    or slower than the traffic); ``rejected``: the store refused these rows (e.g. a constraint)."""

    reason: DropReason
    count: int
    total_dropped: int
    total_rejected: int
    last_error: str | None


def retry_delay(failures: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait after ``failures`` consecutive failed writes: ``base_s`` doubling up to ``cap_s``,
    drawn in [½, 1] of that (jitter, so that many processes that lost the same store do not retry in
    step)."""
    ceiling = min(cap_s, base_s * 2.0 ** min(max(0, failures - 1), 64))  # 2.0**1024 overflows
    return ceiling * (0.5 + 0.5 * rng.random())


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        capacity: int = 100_000,
        batch_size: int = 1_000,
        max_batch: int = 20_000,
        interval_s: float = 0.2,
        retry_base_s: float = 0.05,
        retry_s: float = 1.0,
        on_drop: Callable[[DropReport], None] | None = None,
        warn_every_s: float = 60.0,
        pace_at: float = 0.5,
        pace_s: float = 0.0005,
        pace_stall_s: float = 1.0,
        handle_sigterm: bool = True,
        sigterm_drain_s: float = 5.0,
        start: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.batch_size = batch_size
        self.max_batch = max_batch
        self.interval_s = interval_s
        self.retry_base_s = retry_base_s
        self.retry_s = retry_s
        self.on_drop = on_drop
        self.warn_every_s = warn_every_s
        self.pace_s = pace_s
        self.pace_stall_s = pace_stall_s
        self._pace_depth = max(1, int(capacity * pace_at)) if pace_s > 0 else capacity + 1
        self._store_ok = True  # the last write succeeded (or none was tried)
        self._write_started: float | None = None  # monotonic start of the write in progress
        self.sigterm_drain_s = sigterm_drain_s
        self.stats = RecorderStats()
        self._rng = rng or random.Random()
        self._queue: deque[Record] = deque()
        self._pending_ids: dict[str, int] = {}
        # Entered directly by record(): ``with`` on a Condition runs two Python-level methods per row.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._in_flight = 0
        self._closed = False
        self._kick = False  # flush/close asked the writer not to wait out its backoff
        self._unreported: Counter[DropReason] = Counter()
        self._warned_at = float("-inf")
        self._unwarned = 0
        self._thread: threading.Thread | None = None
        self._tables: dict[type[Record], Table] = {
            kind: Base.metadata.tables[name] for kind, name in RECORD_TYPES.items()
        }
        if start:
            self.start()
        _live.add(self)
        if handle_sigterm:
            _install_sigterm_drain()
        # atexit holds only a weak reference: a recorder nobody uses can still be collected.
        ref = weakref.ref(self)
        atexit.register(lambda: (r := ref()) is not None and r.close(timeout_s=10.0))

    # --- the caller's side ---------------------------------------------------------------------------

    def record(self, record: Record) -> None:
        """Queue one record for its table; drops the oldest record when at capacity. Never waits for the
        store; sleeps ``pace_s`` when the queue is ``pace_at`` full while the store keeps up (see above)."""
        with self._lock:
            queue = self._queue
            if len(queue) >= self.capacity:
                self._forget(queue.popleft())
                self.stats.dropped += 1
                self._unreported["queue_full"] += 1
            queue.append(record)
            if type(record) is ExecutionRecord:
                pending, key = self._pending_ids, record.id
                pending[key] = pending.get(key, 0) + 1
            stats = self.stats
            stats.enqueued += 1
            depth = len(queue)
            if depth > stats.peak_queue:
                stats.peak_queue = depth
            if depth == self.batch_size:
                self._cond.notify_all()
            pace = depth >= self._pace_depth and self._writer_keeps_up()
            if pace:
                stats.paced += 1
        if pace:
            time.sleep(self.pace_s)  # outside the lock: the writer needs it (and the GIL) to take rows

    def _writer_keeps_up(self) -> bool:
        """Whether the store is taking writes now: pacing the caller then lets the writer catch up."""
        if self._thread is None or self._closed or not self._store_ok:
            return False
        started = self._write_started
        return started is None or time.monotonic() - started < self.pace_stall_s

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
            self._report_drops()
            return self.pending() == 0
        with self._cond:
            self._kick = True
            self._cond.notify_all()
            done = self._cond.wait_for(lambda: not self._queue and self._in_flight == 0, timeout=timeout_s)
            self._kick = False
            return done

    def ensure_written(self, execution_id: str, timeout_s: float | None = 10.0) -> None:
        """Return once ``execution_id`` is no longer queued (written, or never queued here); raise
        ``StoreUnavailableError`` with the writer's last error if it is still queued after ``timeout_s``
        (for feedback on it: "unknown execution" would be the wrong reason)."""
        if not self.is_pending(execution_id) or self.flush(timeout_s) or not self.is_pending(execution_id):
            return
        raise StoreUnavailableError(
            f"execution {execution_id!r} is recorded but not yet stored (the store does not take writes now: "
            f"{self.stats.last_error}); it stays queued, retry the feedback later"
        )

    def close(self, timeout_s: float | None = 10.0) -> bool:
        """Drain the queue and stop the writer; later records are written inline by ``flush``."""
        drained = self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
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
        failures = 0
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._closed or self._kick or len(self._queue) >= self.batch_size,
                    timeout=self.interval_s,
                )
                if self._closed and not self._queue:
                    return
                self._kick = False  # one flush, one immediate attempt: flushing in an outage must not spin
                batch = self._take()
            written = not batch or self._write(batch)
            self._report_drops()
            if written:
                failures = 0
                continue
            if self._closed:
                return  # closed in an outage: what is left stays queued for a later flush()
            failures += 1
            delay = retry_delay(failures, base_s=self.retry_base_s, cap_s=self.retry_s, rng=self._rng)
            with self._cond:
                # New rows do not cut the wait short (that made ~100 retries a second against a store
                # that refused them); flush() and close() do.
                self._cond.wait_for(lambda: self._kick or self._closed, timeout=delay)

    def _take(self) -> list[Record]:
        n = min(self.max_batch, len(self._queue))
        popleft = self._queue.popleft
        batch = [popleft() for _ in range(n)]
        self._in_flight = n
        return batch

    def _write(self, batch: list[Record]) -> bool:
        """Write a batch; on an outage put it back and return False."""
        self._write_started = time.monotonic()
        try:
            self._write_rows(batch)
        except StoreUnavailableError as exc:
            self._store_ok, self._write_started = False, None
            with self._cond:
                self.stats.write_failures += 1
                self.stats.last_error = str(exc)
                room = self.capacity - len(self._queue)
                keep = batch[len(batch) - room :] if room < len(batch) else batch
                for record in batch[: len(batch) - len(keep)]:
                    self._forget(record)
                    self.stats.dropped += 1
                    self._unreported["queue_full"] += 1
                self._queue.extendleft(reversed(keep))
                self._in_flight = 0
                self._cond.notify_all()
            return False
        self._store_ok, self._write_started = True, None
        with self._cond:
            self._forget_written(batch)
            self._in_flight = 0
            self._cond.notify_all()
        return True

    def _write_rows(self, batch: list[Record]) -> None:
        by_type: dict[type[Record], list[Record]] = {}
        for record in batch:
            by_type.setdefault(type(record), []).append(record)
        for kind in RECORD_TYPES:  # parents first
            records = by_type.get(kind)
            if records:
                self._insert_isolating_bad_rows(self._tables[kind], kind._fields, records)

    def _insert_isolating_bad_rows(self, table: Table, fields: tuple[str, ...], rows: list[Record]) -> None:
        """Write records (tuples in their table's column order, as they are); a batch the store rejects is
        split in halves down to the bad record."""
        try:
            self.stats.written += bulk_insert_values(self.store, table, fields, rows)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            if len(rows) == 1:
                with self._cond:
                    self.stats.rejected += 1
                    self.stats.last_error = str(exc)
                    self._unreported["rejected"] += 1
                return
            half = len(rows) // 2
            self._insert_isolating_bad_rows(table, fields, rows[:half])
            self._insert_isolating_bad_rows(table, fields, rows[half:])

    def _drain_inline(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
            if not batch or not self._write(batch):
                return

    def _report_drops(self) -> None:
        """Tell the application about lost rows: ``on_drop`` each time, a log warning at a rate limit."""
        with self._cond:
            if not self._unreported:
                return
            lost, self._unreported = self._unreported, Counter()
            totals = (self.stats.dropped, self.stats.rejected, self.stats.last_error)
        for reason, count in lost.items():
            if self.on_drop is not None:
                try:
                    self.on_drop(DropReport(reason, count, *totals))
                except Exception:
                    logger.exception("promptevolve: the recorder's on_drop callback raised")
        self._unwarned += sum(lost.values())
        now = time.monotonic()
        if now - self._warned_at >= self.warn_every_s:
            logger.warning(
                "promptevolve lost %d tracking rows since the last warning (%d dropped, %d rejected in "
                "total; last error: %s); see PromptOptimizer.stats().recorder",
                self._unwarned,
                *totals,
            )
            self._warned_at, self._unwarned = now, 0

    def _forget_written(self, batch: list[Record]) -> None:
        """``_forget`` for a whole batch, in one loop (it runs once per record written)."""
        pending = self._pending_ids
        for record in batch:
            if type(record) is ExecutionRecord:
                key = record.id
                count = pending.pop(key, 0)
                if count > 1:
                    pending[key] = count - 1

    def _forget(self, record: Record) -> None:
        if type(record) is not ExecutionRecord:
            return
        key = record.id
        count = self._pending_ids.get(key, 0) - 1
        if count <= 0:
            self._pending_ids.pop(key, None)
        else:
            self._pending_ids[key] = count


# --- draining on SIGTERM ---------------------------------------------------------------------------

_live: weakref.WeakSet[Recorder] = weakref.WeakSet()
_sigterm_lock = threading.Lock()
_sigterm_installed = False


def _install_sigterm_drain() -> None:
    """Install the drain-on-SIGTERM handler once per process, only where the default handler is set."""
    global _sigterm_installed
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    with _sigterm_lock:
        if _sigterm_installed:
            return
        _sigterm_installed = True
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the application decides what SIGTERM does; atexit still drains a normal exit
        signal.signal(signal.SIGTERM, _drain_then_terminate)


def _drain_then_terminate(signum: int, _frame: Any) -> None:
    recorders = list(_live)
    deadline = time.monotonic() + max((r.sigterm_drain_s for r in recorders), default=0.0)
    for recorder in recorders:
        recorder.close(timeout_s=max(0.0, deadline - time.monotonic()))
    # Chain to the previous handler, the default one: the process ends as terminated by the signal.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
