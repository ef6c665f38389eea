"""The daily evolution budget: a ledger per prompt and day that no pass, in any process, can overdraw.

A policy allows ``daily_calls`` model calls (and optionally ``daily_tokens`` tokens) of evolution per
prompt per day (the day in the policy's time zone). One row of ``autopilot_budget`` per (prompt, day)
holds what was **spent plus what is reserved** by a round still running:

1. ``reserve``: in one write transaction (the row locked: ``SELECT … FOR UPDATE`` on PostgreSQL, the
   write lock on SQLite), grant ``min(asked, limit − used)`` and add it to the row;
2. the round runs with exactly that grant as its ``EvolveRequest`` budget, which the search never
   exceeds (``evolution.budget``: every call reserves its tokens before it is made);
3. ``settle``: the part of the grant the round did not spend goes back to the row.

A crash between 1 and 3 leaves the grant counted as spent: the ledger may under-use a day, never
overdraw it. Two processes reserving at once get grants that sum to at most what was left.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from promptevolve.store.engine import Store
from promptevolve.store.tables import AutopilotBudget, utcnow

__all__ = ["Grant", "Usage", "reserve", "settle", "usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    day: str
    calls: int
    tokens: int
    rounds: int


@dataclass(frozen=True, slots=True)
class Grant:
    """What one round may spend; ``tokens`` None when the policy sets no token limit."""

    prompt_id: int
    day: str
    calls: int
    tokens: int | None


def usage(store: Store, prompt_id: int, day: str) -> Usage:
    with store.read() as s:
        row = s.get(AutopilotBudget, (prompt_id, day))
        return Usage(day, row.calls, row.tokens, row.rounds) if row else Usage(day, 0, 0, 0)


def _locked_row(s: Session, store: Store, prompt_id: int, day: str) -> AutopilotBudget:
    insert = pg_insert if store.dialect == "postgresql" else sqlite_insert
    s.execute(
        insert(AutopilotBudget)
        .values(prompt_id=prompt_id, day=day, calls=0, tokens=0, rounds=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["prompt_id", "day"])
    )
    return s.scalars(
        select(AutopilotBudget)
        .where(AutopilotBudget.prompt_id == prompt_id, AutopilotBudget.day == day)
        .with_for_update()
    ).one()


def reserve(
    store: Store,
    prompt_id: int,
    day: str,
    *,
    calls: int,
    tokens: int | None,
    daily_calls: int,
    daily_tokens: int | None,
) -> Grant | None:
    """Grant up to ``calls`` / ``tokens`` from what is left today; None when nothing is left."""
    with store.write() as s:
        row = _locked_row(s, store, prompt_id, day)
        granted_calls = min(calls, daily_calls - row.calls)
        granted_tokens: int | None = None
        if daily_tokens is not None:
            left = daily_tokens - row.tokens
            granted_tokens = left if tokens is None else min(tokens, left)
        elif tokens is not None:
            granted_tokens = tokens
        if granted_calls < 1 or (granted_tokens is not None and granted_tokens < 1):
            return None
        row.calls += granted_calls
        row.tokens += granted_tokens or 0
        row.rounds += 1
        row.updated_at = utcnow()
        return Grant(prompt_id, day, granted_calls, granted_tokens)


def settle(store: Store, grant: Grant, *, calls: int, tokens: int) -> None:
    """Give back the part of ``grant`` that was not spent (``calls``/``tokens`` are what was)."""
    unused_calls = max(grant.calls - calls, 0)
    unused_tokens = max((grant.tokens or 0) - tokens, 0) if grant.tokens is not None else 0
    with store.write() as s:
        row = _locked_row(s, store, grant.prompt_id, grant.day)
        row.calls -= unused_calls
        # Without a token grant, the tokens were not reserved: record what was spent.
        row.tokens = row.tokens - unused_tokens if grant.tokens is not None else row.tokens + tokens
        row.updated_at = utcnow()
