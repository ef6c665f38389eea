"""The autopilot's candidates (``autopilot_candidates``): what each evolution round produced, and where it
stands. The autopilot reads its pending candidate here; the decision log stays the people's record.

Until migration 0012 the pending candidate was rebuilt at every read by scanning up to 200 decision-log
rows and interpreting their ``figures``; a candidate older than those rows was forgotten, and every
reader had to know the rule. Now each log entry that changes a candidate changes its row **in the same
transaction** (``apply``, called by ``journal.write``), so the log and the table cannot disagree, and
reading the pending candidate is one indexed query.

A candidate's status, and the log entry that moves it there:

==============  =======================  ===============================================================
status          written by               meaning
==============  =======================  ===============================================================
``gated``       ``evolved`` (passed)     passed the held-out gate; waits for its A/B test (or approval)
``failed_gate`` ``evolved`` (otherwise)  the round's candidate did not pass (rejected, format only, …)
``approved``    ``approved``             a person approved it (``propose``); starts when the prompt is free
``testing``     ``experiment_started``   its A/B test started (``experiment_id``; the experiment owns the
                                         outcome: promoted, rolled back, concluded)
``rejected``    ``candidate_rejected``   a person set it aside
``stale``       ``candidate_stale``      set aside by the autopilot: its parent no longer serves, or it
                                         was A/B tested before
==============  =======================  ===============================================================

``gated`` and ``approved`` are **pending**; the pending candidate is the newest pending row. A log entry
names its candidate by version, and moves every pending row of that version (a round can produce the
same content, hence the same version, again): exactly what the scan of the log used to conclude, which
migration 0012 replays to fill the table from an older database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from promptevolve.store.engine import Store
from promptevolve.store.tables import AutopilotCandidate, Decision

__all__ = ["PENDING", "Candidate", "CandidateStatus", "apply", "pending"]


class CandidateStatus(StrEnum):
    GATED = "gated"
    FAILED_GATE = "failed_gate"
    APPROVED = "approved"
    TESTING = "testing"
    REJECTED = "rejected"
    STALE = "stale"


#: Statuses of a candidate still waiting for its A/B test.
PENDING = frozenset({CandidateStatus.GATED, CandidateStatus.APPROVED})

#: Log entries that move a pending candidate, and where to.
_MOVES = {
    "approved": CandidateStatus.APPROVED,
    "experiment_started": CandidateStatus.TESTING,
    "candidate_rejected": CandidateStatus.REJECTED,
    "candidate_stale": CandidateStatus.STALE,
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A candidate that passed the gate and waits for its A/B test."""

    id: int
    version: str
    parent: str
    decision_id: int  # the ``evolved`` entry that proposed it
    approved: bool


def apply(s: Session, entry: Decision) -> None:
    """Change the candidates ``entry`` (a decision-log row just flushed in ``s``) speaks of, if any."""
    figures = entry.figures or {}
    version = figures.get("candidate")
    if not isinstance(version, str):
        return
    if entry.action == "evolved":
        gate = str(figures.get("status"))
        passed = gate == "passed"
        s.add(
            AutopilotCandidate(
                prompt_id=entry.prompt_id,
                version=version,
                parent=str(figures.get("parent")),
                status=CandidateStatus.GATED if passed else CandidateStatus.FAILED_GATE,
                gate=gate,
                decision_id=entry.id,
                changed_by=entry.id,
                created_at=entry.at,
                updated_at=entry.at,
            )
        )
        return
    target = _MOVES.get(entry.action)
    if target is None:
        return
    moving = {CandidateStatus.GATED} if target is CandidateStatus.APPROVED else PENDING
    values: dict[str, object] = {"status": target, "changed_by": entry.id, "updated_at": entry.at}
    if target is CandidateStatus.TESTING:
        values["experiment_id"] = entry.experiment_id
    s.execute(
        update(AutopilotCandidate)
        .where(
            AutopilotCandidate.prompt_id == entry.prompt_id,
            AutopilotCandidate.version == version,
            AutopilotCandidate.status.in_([str(x) for x in moving]),
        )
        .values(**values)
    )


def pending(store: Store, prompt_id: int) -> Candidate | None:
    """The newest candidate still waiting for its A/B test (gated, or approved by a person)."""
    with store.read() as s:
        row = s.scalar(
            select(AutopilotCandidate)
            .where(
                AutopilotCandidate.prompt_id == prompt_id,
                AutopilotCandidate.status.in_([str(x) for x in PENDING]),
            )
            .order_by(AutopilotCandidate.id.desc())
            .limit(1)
        )
        if row is None:
            return None
        return Candidate(
            row.id, row.version, row.parent, row.decision_id, row.status == CandidateStatus.APPROVED
        )
