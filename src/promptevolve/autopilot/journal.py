"""The autopilot's entries in the decision log (``decisions``), and what it remembers from them.

The decision log is the people's record of what the autopilot did: every action it takes and every
reason it has to do nothing is one row (``action``, ``reason``, ``figures``, ``actor``), next to the rows
the experiment service writes for the experiments the autopilot runs. It is append-only. An entry that
changes a candidate (``evolved``, ``approved``, ``experiment_started``, ``candidate_rejected``,
``candidate_stale``) changes its row in ``autopilot_candidates`` in the same transaction
(``candidates.apply``): the autopilot reads its candidates there, never by interpreting ``figures``.

**Not flooding the log.** A pass every five minutes that writes "waiting for feedback (12/50)" each
time would bury the real decisions. A *skip* carries a ``key`` naming its state (``wait_feedback:…``)
and is written only when the prompt's previous autopilot entry had a different key: once per state.
Actions have no key and are always written.

**Read back from the log**: the last evolution round (``evolved`` / ``evolve_failed``: new feedback is
counted since then) and the number of rounds (it seeds the next one, so rounds do not repeat each other).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptevolve.autopilot import candidates
from promptevolve.experiments import DecisionRecord
from promptevolve.experiments.plan import json_safe
from promptevolve.store.engine import Store
from promptevolve.store.tables import Decision, utcnow

__all__ = [
    "ACTIONS",
    "ROUND_ACTIONS",
    "last_round",
    "recent",
    "rounds",
    "write",
]

#: Every action the autopilot writes (experiment services add their own: ramp_step, winner, …).
ACTIONS = (
    "skip",
    "evolved",
    "evolve_failed",
    "budget_exhausted",
    "awaiting_approval",
    "approved",
    "candidate_rejected",
    "candidate_stale",
    "experiment_started",
    "drift_detected",
    "drift_rollback",
    "rollback_recommended",
    "error",
)
#: Entries that mark an evolution round (new feedback is counted from the last one).
ROUND_ACTIONS = ("evolved", "evolve_failed")


def _record(d: Decision) -> DecisionRecord:
    return DecisionRecord(
        id=d.id,
        experiment_id=d.experiment_id,
        action=d.action,
        reason=d.reason,
        figures=d.figures or {},
        actor=d.actor,
        at=d.at,
    )


def _last_entry(s: Session, prompt_id: int) -> Decision | None:
    return s.scalar(
        select(Decision)
        .where(Decision.prompt_id == prompt_id, Decision.action.in_(ACTIONS))
        .order_by(Decision.id.desc())
        .limit(1)
    )


def write(
    store: Store,
    prompt_id: int,
    action: str,
    reason: str,
    figures: Mapping[str, Any] | None = None,
    *,
    actor: str,
    key: str | None = None,
    experiment_id: int | None = None,
) -> DecisionRecord | None:
    """Write one entry; a keyed skip whose key equals the previous entry's is not written (None)."""
    assert action in ACTIONS, action
    doc = dict(figures or {})
    if key is not None:
        doc["key"] = key
    with store.write() as s:
        if key is not None:
            last = _last_entry(s, prompt_id)
            if last is not None and (last.figures or {}).get("key") == key:
                return None
        row = Decision(
            prompt_id=prompt_id,
            experiment_id=experiment_id,
            action=action,
            reason=reason,
            figures=json_safe(doc),
            actor=actor,
            at=utcnow(),
        )
        s.add(row)
        s.flush()
        candidates.apply(s, row)
        return _record(row)


def recent(store: Store, prompt_id: int, *, limit: int = 5) -> list[DecisionRecord]:
    """The prompt's last decisions of any kind (the autopilot's and its experiments'), newest first."""
    with store.read() as s:
        rows = s.scalars(
            select(Decision).where(Decision.prompt_id == prompt_id).order_by(Decision.id.desc()).limit(limit)
        )
        return [_record(d) for d in rows]


def last_round(store: Store, prompt_id: int) -> datetime | None:
    with store.read() as s:
        return s.scalar(
            select(func.max(Decision.at)).where(
                Decision.prompt_id == prompt_id, Decision.action.in_(ROUND_ACTIONS)
            )
        )


def rounds(store: Store, prompt_id: int) -> int:
    with store.read() as s:
        return int(
            s.scalar(
                select(func.count()).where(Decision.prompt_id == prompt_id, Decision.action == "evolved")
            )
            or 0
        )
