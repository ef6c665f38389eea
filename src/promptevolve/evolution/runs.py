"""Every read and write of the ``evolutions`` table: a run's candidates recorded, recorded runs read back.

A run is recorded as one row per candidate scored (``evolution.service`` step 5), in one transaction:
the winner with its variant and the gate's verdict, every other candidate ``not_selected``. Reads group
the rows by run and return frozen ``RecordedRun`` models (the API's ``GET /evolution/runs``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptevolve.core.errors import NotFoundError
from promptevolve.store.engine import Store
from promptevolve.store.tables import Evolution, Prompt, PromptVariant

__all__ = ["CandidateRecord", "RecordedCandidate", "RecordedRun", "get_run", "list_runs", "record_run"]


@dataclass(frozen=True)
class CandidateRecord:
    """One candidate of a run as the service records it (the columns a run does not share)."""

    strategy: str
    status: str
    evidence: dict[str, Any]
    child_variant_id: int | None
    parent_score: float | None
    parent_ci_low: float | None
    parent_ci_high: float | None
    child_score: float | None
    child_ci_low: float | None
    child_ci_high: float | None
    improvement: float | None
    improvement_ci_low: float | None
    improvement_ci_high: float | None


@dataclass(frozen=True)
class RecordedCandidate:
    id: int
    strategy: str
    status: str
    child_version: str | None
    rationale: str | None
    train_score: float | None
    validation_score: float | None
    parent_score: float | None
    child_score: float | None
    child_ci_low: float | None
    child_ci_high: float | None
    improvement: float | None
    improvement_ci_low: float | None
    improvement_ci_high: float | None


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    prompt: str
    parent_version: str
    status: str
    dataset: str | None
    evaluator: str | None
    calls_spent: int
    tokens_spent: int
    created_at: datetime
    candidates: tuple[RecordedCandidate, ...]


def record_run(
    store: Store,
    *,
    run_id: str,
    parent_variant_id: int,
    calls_spent: int,
    tokens_spent: int,
    candidates: Sequence[CandidateRecord],
) -> None:
    """Write one row per candidate, in one transaction (nothing for a run without candidates)."""
    if not candidates:
        return
    with store.write() as s:
        prompt_id = s.get_one(PromptVariant, parent_variant_id).prompt_id
        s.add_all(
            Evolution(
                prompt_id=prompt_id,
                run_id=run_id,
                parent_variant_id=parent_variant_id,
                calls_spent=calls_spent,
                tokens_spent=tokens_spent,
                strategy=c.strategy,
                status=c.status,
                evidence=c.evidence,
                child_variant_id=c.child_variant_id,
                parent_score=c.parent_score,
                parent_ci_low=c.parent_ci_low,
                parent_ci_high=c.parent_ci_high,
                child_score=c.child_score,
                child_ci_low=c.child_ci_low,
                child_ci_high=c.child_ci_high,
                improvement=c.improvement,
                improvement_ci_low=c.improvement_ci_low,
                improvement_ci_high=c.improvement_ci_high,
            )
            for c in candidates
        )


def list_runs(store: Store, *, prompt: str | None, limit: int, offset: int) -> tuple[list[RecordedRun], int]:
    """Recorded runs, newest first, and how many there are (``NotFoundError`` for an unknown prompt)."""
    with store.read() as s:
        base = select(Evolution.run_id, func.max(Evolution.id).label("last")).where(
            Evolution.run_id.is_not(None)
        )
        if prompt is not None:
            prompt_id = s.scalar(select(Prompt.id).where(Prompt.name == prompt))
            if prompt_id is None:
                raise NotFoundError(f"unknown prompt {prompt!r}: GET /prompts lists the known ones")
            base = base.where(Evolution.prompt_id == prompt_id)
        grouped = base.group_by(Evolution.run_id).subquery("runs")
        total = int(s.scalar(select(func.count()).select_from(grouped)) or 0)
        ids = list(
            s.scalars(select(grouped.c.run_id).order_by(grouped.c.last.desc()).limit(limit).offset(offset))
        )
        return _runs(s, ids), total


def get_run(store: Store, run_id: str) -> RecordedRun:
    with store.read() as s:
        runs = _runs(s, [run_id])
    if not runs:
        raise NotFoundError(f"no evolution run {run_id!r}: GET /evolution/runs lists them")
    return runs[0]


def _candidate(e: Evolution, child_version: str | None) -> RecordedCandidate:
    evidence: dict[str, Any] = e.evidence or {}
    return RecordedCandidate(
        id=e.id,
        strategy=e.strategy,
        status=e.status,
        child_version=child_version,
        rationale=evidence.get("rationale"),
        train_score=evidence.get("train_score"),
        validation_score=evidence.get("validation_score"),
        parent_score=e.parent_score,
        child_score=e.child_score,
        child_ci_low=e.child_ci_low,
        child_ci_high=e.child_ci_high,
        improvement=e.improvement,
        improvement_ci_low=e.improvement_ci_low,
        improvement_ci_high=e.improvement_ci_high,
    )


def _runs(s: Session, run_ids: list[str]) -> list[RecordedRun]:
    parent = PromptVariant.__table__.alias("parent")
    child = PromptVariant.__table__.alias("child")
    rows = s.execute(
        select(Evolution, Prompt.name, parent.c.version, child.c.version)
        .join(Prompt, Prompt.id == Evolution.prompt_id)
        .join(parent, parent.c.id == Evolution.parent_variant_id)
        .outerjoin(child, child.c.id == Evolution.child_variant_id)
        .where(Evolution.run_id.in_(run_ids))
        .order_by(Evolution.id)
    ).all()
    grouped: OrderedDict[str, list[Any]] = OrderedDict((r, []) for r in run_ids)
    for row in rows:
        grouped[row[0].run_id].append(row)
    out = []
    for run_id, members in grouped.items():
        if not members:
            continue
        first: Evolution = members[0][0]
        summary: dict[str, Any] = (first.evidence or {}).get("run", {})
        candidates = tuple(_candidate(e, child_version) for e, _, _, child_version in members)
        winner = next((c for c in candidates if c.status != "not_selected"), None)
        out.append(
            RecordedRun(
                run_id=run_id,
                prompt=members[0][1],
                parent_version=members[0][2],
                status=winner.status if winner else "not_selected",
                dataset=summary.get("dataset"),
                evaluator=summary.get("evaluator"),
                calls_spent=first.calls_spent,
                tokens_spent=first.tokens_spent,
                created_at=first.created_at,
                candidates=candidates,
            )
        )
    return out
