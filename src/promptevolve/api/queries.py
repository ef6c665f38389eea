"""Reads the API needs that no service offers yet. Interim: each belongs in its service, and moves there.

- ``variant_trend``: a metric of one variant per time bucket (count, Σy, Σy² per bucket), read from the
  variant's per-minute rollup by ``experiments.trend``; it belongs next to ``sums.arm_series``.
- ``evolution_runs`` / ``evolution_run``: the ``evolutions`` rows grouped by run; they belong in
  ``evolution.service`` (there is no reader of recorded runs yet).
- ``autopilot_status`` / ``stored_policy``: the autopilot's status and a prompt's policy, with a stored
  policy this version cannot read (written by another version) reported for that prompt instead of
  failing the whole answer (``autopilot.autopilot_status`` raises for it); they belong in
  ``autopilot.status`` and ``autopilot.policy``.

Every function is one read transaction through the store's unit of work.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pydantic
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptevolve.api.schemas import (
    AutopilotStatusPublic,
    EvolutionCandidatePublic,
    EvolutionRunPublic,
    PromptStatusPublic,
    TrendPointPublic,
    UnreadablePolicyPublic,
    VariantTrendPublic,
)
from promptevolve.autopilot import Policy, get_policy, prompt_status
from promptevolve.autopilot.policy import policy_names
from promptevolve.core.errors import ConflictError, NotFoundError, ValidationError
from promptevolve.experiments.rollups import prepare_if_writable
from promptevolve.experiments.trend import trend_spec, trend_sums
from promptevolve.registry import Registry
from promptevolve.registry.versioning import parse_version
from promptevolve.scoring import ScoringConfig, metric_spec
from promptevolve.stats import SampleStats
from promptevolve.store.engine import Store
from promptevolve.store.tables import Evolution, Prompt, PromptVariant

__all__ = [
    "autopilot_status",
    "evolution_run",
    "evolution_runs",
    "has_policy",
    "stored_policy",
    "variant_trend",
]

_Z95 = 1.959963984540054


def _variant(s: Session, prompt: str, version: str) -> tuple[Prompt, PromptVariant]:
    row = s.scalar(select(Prompt).where(Prompt.name == prompt))
    if row is None:
        raise NotFoundError(f"unknown prompt {prompt!r}: GET /prompts lists the known ones")
    variant = s.scalar(
        select(PromptVariant).where(
            PromptVariant.prompt_id == row.id, PromptVariant.version == str(parse_version(version))
        )
    )
    if variant is None:
        raise NotFoundError(f"prompt {prompt!r} has no version {version}")
    return row, variant


def _point(start: float, width: float, stats: SampleStats, bounded: bool) -> TrendPointPublic:
    mean = stats.mean if stats.n else None
    low = high = None
    if mean is not None and stats.n >= 2:
        half = _Z95 * math.sqrt(stats.variance / stats.n)
        low, high = mean - half, mean + half
        if bounded:  # a metric in [0, 1] cannot have an interval beyond it
            low, high = max(low, 0.0), min(high, 1.0)
    return TrendPointPublic(
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(start + width, UTC),
        executions=stats.n,
        mean=mean,
        ci_low=low,
        ci_high=high,
    )


def variant_trend(
    store: Store, prompt: str, version: str, *, metric: str, since: float, until: float, buckets: int
) -> VariantTrendPublic:
    """``metric`` of one variant in ``buckets`` equal time buckets over ``[since, until)``."""
    if until <= since:
        raise ValidationError("the trend needs since < until")
    spec = metric_spec(metric)
    width = (until - since) / buckets
    with store.read() as s:
        prompt_row, variant = _variant(s, prompt, version)
        config = ScoringConfig.from_prompt_config(prompt_row.config)
    # The variant's per-minute rollup, built the first time and refreshed since (experiments.trend).
    rolled = prepare_if_writable(store, [trend_spec(variant.id, spec.name, config)])
    with store.read() as s:
        sums = trend_sums(
            s, variant.id, spec, config, since=since, until=until, buckets=buckets, rolled=rolled
        )
    points = [
        _point(since + k * width, width, sums.get(k, SampleStats(0, 0.0, 0.0)), spec.bounded)
        for k in range(buckets)
    ]
    return VariantTrendPublic(
        prompt=prompt,
        version=variant.version,
        metric=spec.name,
        bucket_seconds=width,
        since=datetime.fromtimestamp(since, UTC),
        until=datetime.fromtimestamp(until, UTC),
        points=points,
    )


def _candidate(e: Evolution, child_version: str | None) -> EvolutionCandidatePublic:
    evidence: dict[str, Any] = e.evidence or {}
    return EvolutionCandidatePublic(
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


def _runs(s: Session, run_ids: list[str]) -> list[EvolutionRunPublic]:
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
        candidates = [_candidate(e, child_version) for e, _, _, child_version in members]
        winner = next((c for c in candidates if c.status != "not_selected"), None)
        out.append(
            EvolutionRunPublic(
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


def evolution_runs(
    store: Store, *, prompt: str | None, limit: int, offset: int
) -> tuple[list[EvolutionRunPublic], int]:
    """Recorded runs, newest first, and how many there are."""
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


def evolution_run(store: Store, run_id: str) -> EvolutionRunPublic:
    with store.read() as s:
        runs = _runs(s, [run_id])
    if not runs:
        raise NotFoundError(f"no evolution run {run_id!r}: GET /evolution/runs lists them")
    return runs[0]


def _unreadable(exc: pydantic.ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)


def stored_policy(registry: Registry, prompt: str) -> Policy | None:
    """The prompt's policy or None; ``NotFoundError`` for an unknown prompt, ``ConflictError`` for a
    stored policy this version cannot read (it can be removed, then set again)."""
    try:
        return get_policy(registry, prompt)
    except pydantic.ValidationError as exc:
        raise ConflictError(
            f"the autopilot policy stored for {prompt!r} cannot be read by this version of promptevolve "
            f"({_unreadable(exc)}): DELETE /prompts/{prompt}/autopilot, then set it again"
        ) from None


def has_policy(registry: Registry, prompt: str) -> bool:
    """Whether the prompt has a policy, readable or not (``NotFoundError`` for an unknown prompt)."""
    try:
        return stored_policy(registry, prompt) is not None
    except ConflictError:
        return True


def autopilot_status(store: Store, *, prompts: Iterable[str] | None, last: int) -> AutopilotStatusPublic:
    """Every prompt with a policy (or those named, with or without one; an unknown one is a
    ``NotFoundError``), one at a time, so that an unreadable policy is listed in ``unreadable``."""
    registry = Registry(store)
    names = list(dict.fromkeys(prompts)) if prompts is not None else policy_names(registry)
    now = time.time()
    found: list[PromptStatusPublic] = []
    unreadable: list[UnreadablePolicyPublic] = []
    for name in names:
        try:
            status = prompt_status(store, name, now=now, last=last, registry=registry)
        except pydantic.ValidationError as exc:
            unreadable.append(UnreadablePolicyPublic(prompt=name, error=_unreadable(exc)))
            continue
        found.append(PromptStatusPublic.model_validate(status, from_attributes=True))
    return AutopilotStatusPublic(at=datetime.fromtimestamp(now, UTC), prompts=found, unreadable=unreadable)
