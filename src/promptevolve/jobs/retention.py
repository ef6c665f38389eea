"""Retention: finished jobs and settled webhook deliveries are deleted after ``retention_days``.

Why: every evaluation, evolution, autopilot pass and webhook delivery leaves a row, and nothing else
ever deletes one. An autopilot pass per prompt every few minutes over 10,000 prompts is millions of
finished rows a day; the ``jobs`` table and its index ``ix_jobs_status_run_after`` would grow without
end. ``PROMPTEVOLVE_JOBS_RETENTION_DAYS`` (default 30; ``0`` or ``none`` keeps everything) bounds them.

What goes: jobs in a final state (``FINAL``: succeeded, failed, cancelled) that finished before the
cutoff, and outbox rows delivered before it or failed for good and made before it (``autopilot.outbox``).
What stays, always: a queued or running job, a job finished after the cutoff, a pending delivery, and
a failed delivery whose job is queued or running again (a person's retry may still send it).

How: in batches of ``batch`` rows (5,000), each chosen by primary key and deleted in its own short
write transaction (``store.batches``), so a prune holds PostgreSQL's row locks, or SQLite's one write
lock, for one batch at a time and the engines' own writes go on between batches. Each batch first
tries the advisory lock ``jobs:retention`` (``store.locks.try_serialize``): when several workers prune
in the same hour, the one that finds it held stops at once and leaves the rest to the holder (the
deletes are idempotent, so this only saves duplicate work). A job retried by a person between the
choice and the delete is kept: the conditions are repeated on the ``DELETE``.

When: ``Pruner.run_if_due``, a cheap clock comparison, prunes at most once per ``every_s`` (an hour)
per process, the first time at start-up; the embedded queue asks it from a thread of its own and the
procrastinate worker from a task of its own, so a long first prune delays no job.
``promptevolve jobs prune`` does it by hand (with ``--dry-run`` to count). procrastinate's own finished
jobs are removed by its builtin task ``remove_old_jobs``, which the worker defers at the same pace
(``procrastinate_engine``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from promptevolve.autopilot.outbox import count_settled, delete_settled
from promptevolve.core.protocols import Clock, SystemClock
from promptevolve.jobs import rows
from promptevolve.store.batches import in_batches
from promptevolve.store.engine import Store

if TYPE_CHECKING:  # settings builds the engines, which take a Pruner
    from promptevolve.jobs.settings import JobSettings

__all__ = ["BATCH", "EVERY_S", "Pruned", "Pruner", "prune"]

log = logging.getLogger("promptevolve.jobs")

#: Rows deleted per transaction: a few tens of milliseconds of locks on either store.
BATCH = 5_000
#: How often a process prunes by itself.
EVERY_S = 3_600.0
_LOCK = "jobs:retention"
_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one prune deleted (or, with ``dry_run``, would delete). ``complete`` is False when another
    process held the retention lock and this one stopped early, leaving the rest to it."""

    jobs: int
    deliveries: int
    cutoff: datetime
    dry_run: bool
    complete: bool = True


def prune(
    store: Store, *, older_than_s: float, now: float, batch: int = BATCH, dry_run: bool = False
) -> Pruned:
    """Delete finished jobs and settled deliveries older than ``older_than_s`` before ``now`` (epoch
    seconds), ``batch`` rows a transaction; with ``dry_run``, count them and delete nothing."""
    cutoff = datetime.fromtimestamp(now - older_than_s, UTC)
    if dry_run:
        jobs = rows.count_finished(store, finished_before=cutoff)
        deliveries = count_settled(store, before=cutoff, live_jobs=rows.live_ids())
        return Pruned(jobs=jobs, deliveries=deliveries, cutoff=cutoff, dry_run=True)
    jobs, complete = in_batches(
        store, lambda s: rows.delete_finished(s, finished_before=cutoff, limit=batch), batch=batch, lock=_LOCK
    )
    deliveries = 0
    if complete:
        deliveries, complete = in_batches(
            store,
            lambda s: delete_settled(s, before=cutoff, live_jobs=rows.live_ids(), limit=batch),
            batch=batch,
            lock=_LOCK,
        )
    return Pruned(jobs=jobs, deliveries=deliveries, cutoff=cutoff, dry_run=False, complete=complete)


class Pruner:
    """Prunes at most once per ``every_s`` of ``clock``: the engines call ``run_if_due`` at every poll,
    and all but one call an hour are a comparison of two floats."""

    def __init__(
        self,
        store: Store,
        *,
        retention_days: int,
        every_s: float = EVERY_S,
        batch: int = BATCH,
        clock: Clock | None = None,
    ) -> None:
        self.store, self.retention_days, self.every_s, self.batch = store, retention_days, every_s, batch
        self.clock = clock or SystemClock()
        self._last: float | None = None

    @classmethod
    def from_settings(
        cls, store: Store, settings: JobSettings, *, clock: Clock | None = None
    ) -> Pruner | None:
        """The pruner ``settings`` ask for, or None when they keep jobs forever."""
        if settings.retention_days is None:
            return None
        return cls(store, retention_days=settings.retention_days, clock=clock)

    def run_if_due(self) -> Pruned | None:
        """Prune if ``every_s`` passed since the last time this pruner tried (or it never did); None when
        not due. The time is noted before pruning, so a store that is down is tried again at the next
        hour, not at every poll in between."""
        now = self.clock.now()
        if self._last is not None and now - self._last < self.every_s:
            return None
        self._last = now
        done = prune(self.store, older_than_s=self.retention_days * _DAY_S, now=now, batch=self.batch)
        if done.jobs or done.deliveries:
            log.info(
                "retention: %d jobs and %d webhook deliveries finished before %s deleted",
                done.jobs,
                done.deliveries,
                done.cutoff.isoformat(timespec="seconds"),
            )
        return done
