"""A variant's metric per time bucket (count, Σv, Σv²), from its per-minute rollup and a few raw calls.

Buckets are ``[since + k·w, since + (k+1)·w)`` for any ``since`` and width, so they do not fall on
minute boundaries. The sums are split exactly in two:

- the minutes that lie more than a second away from every bucket edge are read from the variant's
  ``trend`` rollup (``rollups.py``): all of a minute's calls fall in one bucket, computed from the
  minute's start;
- the calls of the other minutes (about one per edge: those an edge cuts, and those within a second of
  one, where the rounding of ``floor(ts / 60)`` and of the bucket could disagree) are read raw and
  bucketed as before.

So a 30-day trend reads ~43,000 minute rows and ~31 minutes of calls, not the variant's every call, and
its sums equal the raw computation up to the order of floating-point additions. Without a built
rollup (the caller did not ``prepare`` one) every call is read raw.

``variant_trend`` is the whole read for one variant named by prompt and version (the API's
``GET /metrics/prompts/{name}/variants/{version}``): a frozen ``VariantTrend`` of ``TrendPoint`` with a
95 % normal interval per bucket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Double, Integer, and_, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from promptevolve.core.errors import NotFoundError, ValidationError
from promptevolve.experiments.rollups import (
    RollupSpec,
    _minute,
    _ranges,
    _statements,
    prepare_if_writable,
    rollup_id,
)
from promptevolve.experiments.sums import call_values
from promptevolve.registry.versioning import parse_version
from promptevolve.scoring import MetricSpec, ScoringConfig, metric_spec
from promptevolve.stats import SampleStats
from promptevolve.store.engine import Store
from promptevolve.store.tables import Execution, Prompt, PromptVariant, RollupMinute

__all__ = ["TrendPoint", "VariantTrend", "trend_spec", "trend_sums", "variant_trend"]

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class TrendPoint:
    """One bucket ``[start, end)`` (epoch seconds): the calls that measure the metric, their mean and
    its 95 % normal interval (None below two calls; clipped to [0, 1] for a bounded metric)."""

    start: float
    end: float
    executions: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class VariantTrend:
    prompt: str
    version: str
    metric: str
    bucket_seconds: float
    since: float
    until: float
    points: tuple[TrendPoint, ...]


def variant_trend(
    store: Store, prompt: str, version: str, *, metric: str, since: float, until: float, buckets: int
) -> VariantTrend:
    """``metric`` of one variant in ``buckets`` equal time buckets over ``[since, until)``."""
    if until <= since:
        raise ValidationError("the trend needs since < until")
    spec = metric_spec(metric)
    width = (until - since) / buckets
    with store.read() as s:
        variant_id, variant_version, config = _variant(s, prompt, version)
    # The variant's per-minute rollup, built the first time and refreshed since.
    rolled = prepare_if_writable(store, [trend_spec(variant_id, spec.name, config)])
    with store.read() as s:
        sums = trend_sums(
            s, variant_id, spec, config, since=since, until=until, buckets=buckets, rolled=rolled
        )
    points = tuple(
        _point(since + k * width, width, sums.get(k, SampleStats(0, 0.0, 0.0)), spec.bounded)
        for k in range(buckets)
    )
    return VariantTrend(prompt, variant_version, spec.name, width, since, until, points)


def _variant(s: Session, prompt: str, version: str) -> tuple[int, str, ScoringConfig]:
    """(variant id, its version, the prompt's scoring configuration)."""
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
    return variant.id, variant.version, ScoringConfig.from_prompt_config(row.config)


def _point(start: float, width: float, stats: SampleStats, bounded: bool) -> TrendPoint:
    mean = stats.mean if stats.n else None
    low = high = None
    if mean is not None and stats.n >= 2:
        half = _Z95 * math.sqrt(stats.variance / stats.n)
        low, high = mean - half, mean + half
        if bounded:  # a metric in [0, 1] cannot have an interval beyond it
            low, high = max(low, 0.0), min(high, 1.0)
    return TrendPoint(start, start + width, stats.n, mean, low, high)


def trend_spec(variant_id: int, metric: str, config: ScoringConfig) -> RollupSpec:
    """The rollup ``trend_sums`` reads for this variant and metric."""
    return RollupSpec("trend", variant_id=variant_id, metric=metric, config=config)


def trend_sums(
    s: Session,
    variant_id: int,
    spec: MetricSpec,
    config: ScoringConfig,
    *,
    since: float,
    until: float,
    buckets: int,
    rolled: bool = True,
) -> dict[int, SampleStats]:
    """Per bucket index with calls, the count, Σv and Σv² of ``spec`` over ``[since, until)``; from the
    raw rows only unless ``rolled`` (the rollup was just refreshed)."""
    width = (until - since) / buckets
    where = [Execution.variant_id == variant_id, Execution.ts >= since, Execution.ts < until]
    rid = rollup_id(s, trend_spec(variant_id, spec.name, config)) if rolled else None
    if rid is None:
        return _raw(s, spec, config, where, since, width)
    edges = [since + k * width for k in range(buckets + 1)]
    cut = {m for e in edges for m in range(math.floor((e - 1.0) / 60.0), math.floor((e + 1.0) / 60.0) + 1)}
    raw: dict[int, SampleStats] = {}
    for runs in _statements(s, _ranges(cut)):
        ranges = [(max(since, lo * 60.0 - 1.0), min(until, (hi + 1) * 60.0 + 1.0)) for lo, hi in runs]
        near = or_(*(and_(Execution.ts >= a, Execution.ts < b) for a, b in ranges if a < b))
        calls = [Execution.variant_id == variant_id, near]
        raw = _add(raw, _raw(s, spec, config, calls, since, width, minutes=runs))
    return _add(raw, _rolled(s, rid, since, until, width, cut))


def _floor(s: Session, value: Any) -> Any:
    # Non-negative here: SQLite's integer cast truncates, which is a floor; PostgreSQL's rounds.
    return cast(func.floor(value) if s.get_bind().dialect.name == "postgresql" else value, Integer)


def _raw(
    s: Session,
    spec: MetricSpec,
    config: ScoringConfig,
    where: Sequence[Any],
    since: float,
    width: float,
    *,
    minutes: Sequence[tuple[int, int]] | None = None,
) -> dict[int, SampleStats]:
    calls = call_values(spec, config, where).subquery("calls")
    bucket = _floor(s, (calls.c.ts - literal(since, Double())) / literal(width, Double()))
    v = calls.c.v
    query = select(bucket.label("b"), func.count(v), func.sum(v), func.sum(v * v)).where(v.is_not(None))
    if minutes is not None:  # only the calls of these minutes, as the rollup assigns them
        minute = _minute(s, calls.c.ts)
        query = query.where(or_(*(minute.between(lo, hi) for lo, hi in minutes)))
    rows = s.execute(query.group_by(bucket)).all()
    return {int(b): SampleStats(int(n), float(t or 0.0), float(q or 0.0)) for b, n, t, q in rows}


def _rolled(
    s: Session, rid: int, since: float, until: float, width: float, cut: set[int]
) -> dict[int, SampleStats]:
    start = (RollupMinute.minute * literal(60.0, Double()) - literal(since, Double())) / literal(
        width, Double()
    )
    bucket = _floor(s, start)
    rows = s.execute(
        select(
            bucket.label("b"),
            func.sum(RollupMinute.n),
            func.sum(RollupMinute.sum_v),
            func.sum(RollupMinute.sum_v2),
        )
        .where(
            RollupMinute.rollup_id == rid,
            RollupMinute.minute.between(math.floor(since / 60.0), math.floor(until / 60.0)),
            RollupMinute.minute.not_in(sorted(cut)),
        )
        .group_by(bucket)
    ).all()
    return {int(b): SampleStats(int(n), float(t or 0.0), float(q or 0.0)) for b, n, t, q in rows}


def _add(a: dict[int, SampleStats], b: dict[int, SampleStats]) -> dict[int, SampleStats]:
    out = dict(a)
    for k, v in b.items():
        w = out.get(k)
        out[k] = v if w is None else SampleStats(w.n + v.n, w.total + v.total, w.total_sq + v.total_sq)
    return out
