"""Many rows changed in short transactions, one bounded batch each, so no lock is held for long.

A chore that deletes millions of rows in one statement holds PostgreSQL's row locks on all of them, and
SQLite's one write lock, until it commits: every other writer waits. ``in_batches`` runs the caller's
batch (a statement limited to ``batch`` rows, chosen by primary key) in one write transaction after
another, until a batch changes fewer rows than ``batch``. Other writers get the store between batches.

With ``lock``, each transaction first tries that advisory lock (``locks.try_serialize``); when another
process holds it, the run stops at once and says so, leaving the work to the holder: a chore several
processes run on a schedule, where one at a time suffices.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from promptevolve.store.engine import Store
from promptevolve.store.locks import try_serialize

__all__ = ["in_batches"]


def in_batches(
    store: Store, run_batch: Callable[[Session], int], *, batch: int, lock: str | None = None
) -> tuple[int, bool]:
    """Run ``run_batch(session)`` (rows it changed, at most ``batch``) in one write transaction after
    another until one changes fewer than ``batch``; returns (rows changed in all, whether it got there:
    False when ``lock`` was held by another process and it stopped early)."""
    total = 0
    while True:
        with store.write() as session:
            if lock is not None and not try_serialize(session, lock):
                return total, False
            changed = run_batch(session)
        total += changed
        if changed < batch:
            return total, True
