"""Per-arm sufficient statistics, summed by the database: what every analysis reads.

One query per metric returns, per arm, a handful of sums, so an analysis costs the same for a thousand
executions or ten million (beyond the query itself, which the indexes on ``executions(experiment_id,
arm)`` and ``scores(execution_id, metric)`` serve). Each metric's per-execution value is the SQL twin of
``promptevolve.scoring.metrics`` (``scoring.sql``), evaluated over executions joined with the means of
their scores and feedback.

**Units, not calls.** Routing is sticky per unit (a user, a lead), and a unit may make many calls whose
outcomes are correlated; treating calls as independent would understate the variance and declare false
winners. So the sums are taken in two levels: per (arm, unit) the unit's total ``x = Σy`` and its number
of calls ``z``; then per arm::

    units, Σx, Σz, Σx², Σz², Σxz          → RatioStats (the metric Σx / Σz = the mean per call, with
                                             the delta-method variance over units; Deng et al. 2018)
    Σz, Σx, Σy² (calls)                   → SampleStats (the per-call sums, for reports)

A call without a unit id is a unit of its own (the router gave it a random bucket). When every unit makes
one call, the two agree exactly.

**Over time**: ``arm_series`` groups the same unit sums by the time bucket of each unit's first
measured call (cohorts, as GrowthBook's cumulative charts): the cumulative sums up to bucket ``k`` are
the statistics of the units that entered by then, with all their calls, and the last point equals
``arm_sums``. Buckets are computed in SQL (``FLOOR`` on PostgreSQL, an integer cast of a non-negative
number on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Double, Integer, Select, case, cast, func, literal, select
from sqlalchemy.orm import Session

from promptevolve.scoring import MetricSpec, ScoringConfig
from promptevolve.scoring.sql import ExecutionColumns, metric_expression, score_metrics_needed
from promptevolve.stats import RatioStats, SampleStats
from promptevolve.store.tables import Execution, Exposure, Feedback, Score

__all__ = [
    "ArmSums",
    "arm_series",
    "arm_sums",
    "call_values",
    "calls_values",
    "exposed_units",
    "variant_sample",
]

_FEEDBACK_METRICS = frozenset({"composite", "coverage", "accuracy", "satisfaction", "thumbs", "rating"})


@dataclass(frozen=True)
class ArmSums:
    """Two-level sums of one metric in one arm (see the module docstring); additive."""

    units: int = 0
    sum_x: float = 0.0
    sum_z: float = 0.0
    sum_x2: float = 0.0
    sum_z2: float = 0.0
    sum_xz: float = 0.0
    sum_y2: float = 0.0

    @property
    def executions(self) -> int:
        return round(self.sum_z)

    @property
    def ratio(self) -> RatioStats:
        """Unit-level statistics of the mean per call (what decisions use)."""
        return RatioStats(self.units, self.sum_x, self.sum_z, self.sum_x2, self.sum_z2, self.sum_xz)

    @property
    def sample(self) -> SampleStats:
        """Call-level count, Σy and Σy² (what a report of calls shows)."""
        return SampleStats(self.executions, self.sum_x, self.sum_y2)

    def __add__(self, other: ArmSums) -> ArmSums:
        return ArmSums(
            self.units + other.units,
            self.sum_x + other.sum_x,
            self.sum_z + other.sum_z,
            self.sum_x2 + other.sum_x2,
            self.sum_z2 + other.sum_z2,
            self.sum_xz + other.sum_xz,
            self.sum_y2 + other.sum_y2,
        )


def _f(value: float) -> ColumnElement[float]:
    return literal(float(value), Double())


def _scope(experiment_id: int, since: float | None, until: float | None) -> list[ColumnElement[bool]]:
    where = [Execution.experiment_id == experiment_id, Execution.arm.is_not(None)]
    if since is not None:
        where.append(Execution.ts >= since)
    if until is not None:
        where.append(Execution.ts < until)
    return where


def _score_pivot(metrics: Sequence[str], where: Sequence[ColumnElement[bool]]) -> Any:
    columns = [func.avg(case((Score.metric == m, Score.value))).label(f"s{i}") for i, m in enumerate(metrics)]
    return (
        select(Score.execution_id, *columns)
        .join(Execution, Execution.id == Score.execution_id)
        .where(*where, Score.metric.in_(list(metrics)))
        .group_by(Score.execution_id)
        .subquery("score_means")
    )


def _feedback_pivot(where: Sequence[ColumnElement[bool]]) -> Any:
    def mean(kind: str) -> Any:
        return func.avg(case((Feedback.kind == kind, Feedback.value)))

    matches = case((func.trim(Feedback.text) == func.trim(Execution.output), _f(1.0)), else_=_f(0.0))
    return (
        select(
            Feedback.execution_id,
            mean("thumbs").label("thumbs"),
            mean("rating").label("rating"),
            mean("score").label("score"),
            func.min(case((Feedback.kind == "correction", matches))).label("correction"),
        )
        .join(Execution, Execution.id == Feedback.execution_id)
        .where(*where)
        .group_by(Feedback.execution_id)
        .subquery("feedback_means")
    )


def call_values(spec: MetricSpec, config: ScoringConfig, where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """Per call matching ``where`` (conditions on ``executions``): columns ``arm``, ``unit`` (unit key),
    ``ts`` and ``v``, the metric's value (NULL when the call does not measure it). Wrap it in a subquery
    to aggregate it any other way (per variant, per time bucket)."""
    return calls_values([spec], config, where, labels=["v"])


def calls_values(
    specs: Sequence[MetricSpec],
    config: ScoringConfig,
    where: Sequence[ColumnElement[bool]],
    *,
    labels: Sequence[str] | None = None,
) -> Select[Any]:
    """``call_values`` for several metrics at once (columns ``v0``, ``v1``… or ``labels``), over one
    join of the calls with their scores and feedback (what a rollup refresh recomputes)."""
    metrics = tuple(dict.fromkeys(m for spec in specs for m in score_metrics_needed(spec, config)))
    scores = _score_pivot(metrics, where) if metrics else None
    needs_feedback = any(spec.name in _FEEDBACK_METRICS for spec in specs)
    feedback = _feedback_pivot(where) if needs_feedback else None
    none: Any = literal(None, Double())

    def score(name: str) -> Any:
        return scores.c[f"s{metrics.index(name)}"] if scores is not None and name in metrics else none

    def fb(column: str) -> Any:
        return feedback.c[column] if feedback is not None else none

    cols = ExecutionColumns(
        status=Execution.status,
        latency_ms=Execution.latency_ms,
        cost_usd=Execution.cost_usd,
        prompt_tokens=Execution.prompt_tokens,
        completion_tokens=Execution.completion_tokens,
        score=score,
        thumbs=fb("thumbs"),
        rating=fb("rating"),
        feedback_score=fb("score"),
        correction_match=fb("correction"),
    )
    names = labels if labels is not None else [f"v{i}" for i in range(len(specs))]
    query: Any = select(
        Execution.arm.label("arm"),
        func.coalesce(Execution.unit_hash, Execution.id).label("unit"),
        Execution.ts.label("ts"),
        *(metric_expression(cols, spec, config).label(n) for spec, n in zip(specs, names, strict=True)),
    ).select_from(Execution)
    if scores is not None:
        query = query.outerjoin(scores, scores.c.execution_id == Execution.id)
    if feedback is not None:
        query = query.outerjoin(feedback, feedback.c.execution_id == Execution.id)
    # OFFSET 0 keeps the database from flattening this query into the caller's aggregate, which then
    # evaluated the (large) metric expression once per use of ``v`` (sum, count, sum of squares, the
    # NULL filter): the composite's per-arm sums took half the time with it (bench/pg_scale.py).
    return query.where(*where).offset(0)


def _per_unit(values: Any) -> Any:
    v = values.c.v
    return (
        select(
            values.c.arm,
            values.c.unit,
            func.sum(v).label("x"),
            func.count(v).label("z"),
            func.sum(v * v).label("y2"),
            func.min(values.c.ts).label("first"),
        )
        .where(v.is_not(None))
        .group_by(values.c.arm, values.c.unit)
        .subquery("units")
    )


def _sum_columns(units: Any) -> list[Any]:
    x: Any = units.c.x
    z: Any = cast(units.c.z, Double())
    return [
        func.count().label("units"),
        func.sum(x).label("sum_x"),
        func.sum(z).label("sum_z"),
        func.sum(x * x).label("sum_x2"),
        func.sum(z * z).label("sum_z2"),
        func.sum(x * z).label("sum_xz"),
        func.sum(units.c.y2).label("sum_y2"),
    ]


def _arm_sums(row: Any) -> ArmSums:
    def f(name: str) -> float:
        value = getattr(row, name)
        return float(value) if value is not None else 0.0

    names = ("sum_x", "sum_z", "sum_x2", "sum_z2", "sum_xz", "sum_y2")
    return ArmSums(int(row.units), *(f(n) for n in names))


def arm_sums(
    s: Session,
    experiment_id: int,
    spec: MetricSpec,
    config: ScoringConfig,
    *,
    since: float | None = None,
    until: float | None = None,
) -> dict[str, ArmSums]:
    """Sums of ``spec`` per arm over the experiment's calls with ``since <= ts < until``."""
    units = _per_unit(call_values(spec, config, _scope(experiment_id, since, until)).subquery("calls"))
    rows = s.execute(select(units.c.arm, *_sum_columns(units)).group_by(units.c.arm)).all()
    return {row.arm: _arm_sums(row) for row in rows}


def _bucket(s: Session, first: Any, start: float, width: float) -> Any:
    offset = (first - _f(start)) / _f(width)
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.floor(offset), Integer)
    return cast(offset, Integer)  # SQLite truncates toward zero, a floor for offsets >= 0


def arm_series(
    s: Session,
    experiment_id: int,
    spec: MetricSpec,
    config: ScoringConfig,
    *,
    start: float,
    width: float,
    until: float | None = None,
) -> dict[str, list[tuple[int, ArmSums]]]:
    """Per arm, ``(bucket, sums)`` of the units whose first measured call falls in each time bucket
    ``[start + k·width, start + (k+1)·width)``, in bucket order; cumulate them for the chart."""
    units = _per_unit(call_values(spec, config, _scope(experiment_id, start, until)).subquery("calls"))
    bucket = _bucket(s, units.c.first, start, width).label("bucket")
    query = select(units.c.arm, bucket, *_sum_columns(units)).group_by(units.c.arm, bucket).order_by(bucket)
    out: dict[str, list[tuple[int, ArmSums]]] = {}
    for row in s.execute(query).all():
        out.setdefault(row.arm, []).append((int(row.bucket), _arm_sums(row)))
    return out


def exposed_units(s: Session, experiment_id: int, *, since: float | None = None) -> dict[str, int]:
    """Distinct units exposed per arm since ``since`` (a call without a unit id counts once)."""
    unit = func.coalesce(Exposure.unit_hash, Exposure.id)
    where = [Exposure.experiment_id == experiment_id]
    if since is not None:
        where.append(Exposure.ts >= since)
    rows = s.execute(
        select(Exposure.arm, func.count(func.distinct(unit))).where(*where).group_by(Exposure.arm)
    ).all()
    return {arm: int(n) for arm, n in rows}


def variant_sample(
    s: Session, variant_id: int, spec: MetricSpec, config: ScoringConfig, *, since: float | None = None
) -> SampleStats:
    """Call-level sums of ``spec`` over every recorded call of a variant (for power analysis)."""
    where: list[ColumnElement[bool]] = [Execution.variant_id == variant_id]
    if since is not None:
        where.append(Execution.ts >= since)
    calls = call_values(spec, config, where).subquery("calls")
    v = calls.c.v
    row = s.execute(select(func.count(v), func.sum(v), func.sum(v * v)).where(v.is_not(None))).one()
    return SampleStats(int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0))


#: The former private name, still imported by ``api.queries``; use ``call_values``.
_values = call_values
