"""Serialising writers that create or replace a row by name, where no row exists yet to lock.

``SELECT … FOR UPDATE`` locks rows that exist; two transactions creating the same name both find none,
both insert, and the slower fails on the unique index (a 500 where a refusal or a replacement was
meant: eight concurrent imports of one dataset on PostgreSQL, issue 14's fault suite). ``serialize``
takes a transaction-scoped lock on the name first, so the second transaction waits until the first
commits and then sees its row. PostgreSQL: an advisory lock on a 64-bit hash of the key, released at
commit or rollback, bounded by the lock timeout. SQLite: nothing to do, as a write transaction already
holds the database's one write lock from ``BEGIN IMMEDIATE``.

``try_serialize`` is the same lock for chores that several processes run and one suffices (the hourly
prune of old jobs): the second process does not wait, it learns that another holds the lock and skips.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["serialize", "try_serialize"]


def _key(key: str) -> dict[str, str]:
    return {"key": f"promptevolve:{key}"}


def serialize(session: Session, key: str) -> None:
    """Hold a lock on ``key`` (e.g. ``"dataset:leads"``) until ``session``'s transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), _key(key))


def try_serialize(session: Session, key: str) -> bool:
    """Take the lock on ``key`` until ``session``'s transaction ends if no other transaction holds it;
    False (at once, without waiting) if one does. Always True on SQLite (the write lock is held)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    taken = session.execute(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), _key(key))
    return bool(taken.scalar())
