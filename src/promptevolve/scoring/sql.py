"""The SQL twin of ``metrics.py``: the same per-execution values as SQLAlchemy column expressions.

Experiments aggregate metrics in the database (count, Σy, Σy² per arm), so each metric must also exist
as an expression the database evaluates row by row. This module builds those expressions from
``ExecutionColumns``, expressions for one execution's facts that the caller provides (the store's
tables are joined by ``promptevolve.experiments.sums``; ``scoring`` sits below the store in the import
layers and never names a table). The expressions are plain ANSI SQL (CASE, COALESCE, NULLIF, TRIM) and
run unchanged on SQLite and PostgreSQL. ``tests/scoring/test_metrics_sql.py`` checks, on both
databases, that they give what the pure functions give.

Every numeric literal is bound as a double precision value so that PostgreSQL never divides integers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Double, SQLColumnExpression, and_, case, func, literal, null

from promptevolve.scoring.composite import COMPONENTS, ScoringConfig
from promptevolve.scoring.metrics import MetricSpec

__all__ = ["ExecutionColumns", "component_expressions", "metric_expression", "score_metrics_needed"]

#: A column expression of one execution's value (SQLAlchemy types it loosely; so do we).
Expr = SQLColumnExpression[Any]


@dataclass(frozen=True)
class ExecutionColumns:
    """SQL expressions for one execution's facts. ``score(name)`` is the mean of the execution's scores
    of metric ``name`` (NULL when it has none); the feedback columns are means over its feedback rows
    (NULL when none); ``correction_match`` is 1 when every correction equals the output, else 0."""

    status: Expr
    latency_ms: Expr
    cost_usd: Expr
    prompt_tokens: Expr
    completion_tokens: Expr
    score: Callable[[str], Expr]
    thumbs: Expr
    rating: Expr
    feedback_score: Expr
    correction_match: Expr


def _f(value: float) -> Expr:
    return literal(float(value), Double())


def _failed(cols: ExecutionColumns) -> ColumnElement[bool]:
    return cols.status == "error"


def _zero_if_failed(cols: ExecutionColumns, value: Expr) -> Expr:
    return case((_failed(cols), _f(0.0)), else_=value)


def _null_if_failed(cols: ExecutionColumns, value: Expr) -> Expr:
    return case((_failed(cols), null()), else_=value)


def _mean_present(values: Sequence[Expr]) -> Expr:
    total = sum((func.coalesce(v, _f(0.0)) for v in values), _f(0.0))
    count = sum((case((v.is_not(None), _f(1.0)), else_=_f(0.0)) for v in values), _f(0.0))
    return total / func.nullif(count, _f(0.0))


def score_metrics_needed(spec: MetricSpec, config: ScoringConfig) -> tuple[str, ...]:
    """The ``scores.metric`` names whose per-execution means the expression of ``spec`` reads."""
    if spec.score_metric is not None:
        return (spec.score_metric,)
    needed: list[str] = []
    if spec.name in ("composite", "coverage", "accuracy") and "evaluator" in config.accuracy_sources:
        needed.append("accuracy")
    if spec.name in ("composite", "coverage", "consistency"):
        needed.extend(m for m in config.consistency_metrics if m not in needed)
    return tuple(needed)


def _accuracy(cols: ExecutionColumns, config: ScoringConfig) -> Expr:
    sources = {
        "evaluator": lambda: cols.score("accuracy"),
        "feedback": lambda: cols.feedback_score,
        "correction": lambda: cols.correction_match,
        "thumbs": lambda: cols.thumbs,
    }
    chosen = [sources[s]() for s in config.accuracy_sources]
    return _zero_if_failed(cols, chosen[0] if len(chosen) == 1 else func.coalesce(*chosen))


def _response_time(cols: ExecutionColumns, config: ScoringConfig) -> Expr:
    target = _f(config.target_latency_ms)
    return case(
        (_failed(cols), _f(0.0)),
        (cols.latency_ms.is_(None), null()),
        (cols.latency_ms <= target, _f(1.0)),
        else_=target / cols.latency_ms,
    )


def _satisfaction(cols: ExecutionColumns) -> Expr:
    rating = (cols.rating - _f(1.0)) / _f(4.0)
    return _zero_if_failed(cols, _mean_present([cols.thumbs, rating]))


def component_expressions(cols: ExecutionColumns, config: ScoringConfig) -> dict[str, Expr]:
    """The four components of the composite, NULL where ``metrics.py`` gives ``None``."""
    consistency = _mean_present([cols.score(m) for m in config.consistency_metrics])
    return {
        "accuracy": _accuracy(cols, config),
        "response_time": _response_time(cols, config),
        "consistency": _zero_if_failed(cols, consistency),
        "satisfaction": _satisfaction(cols),
    }


def _composite(cols: ExecutionColumns, config: ScoringConfig) -> tuple[Expr, Expr]:
    """(composite, coverage) as in ``composite.composite``."""
    parts = component_expressions(cols, config)
    weights = {k: config.weights.of(k) for k in COMPONENTS}
    weighted = sum((_f(weights[k]) * func.coalesce(parts[k], _f(0.0)) for k in COMPONENTS), _f(0.0))
    present = sum((case((parts[k].is_not(None), _f(weights[k])), else_=_f(0.0)) for k in COMPONENTS), _f(0.0))
    coverage = present / _f(config.weights.total)
    enough = and_(present > _f(0.0), coverage >= _f(config.min_coverage))
    value = case((enough, weighted / func.nullif(present, _f(0.0))), else_=null())
    return value, coverage


def metric_expression(cols: ExecutionColumns, spec: MetricSpec, config: ScoringConfig) -> Expr:
    """The per-execution value of ``spec`` (NULL when the execution does not measure it)."""
    if spec.score_metric is not None:
        return cols.score(spec.score_metric)
    if spec.name in ("composite", "coverage"):
        value, coverage = _composite(cols, config)
        return value if spec.name == "composite" else coverage
    if spec.name in COMPONENTS:
        return component_expressions(cols, config)[spec.name]
    tokens = cols.prompt_tokens + cols.completion_tokens
    simple: dict[str, Callable[[], Expr]] = {
        "latency_ms": lambda: _null_if_failed(cols, cols.latency_ms),
        "cost_usd": lambda: _null_if_failed(cols, cols.cost_usd),
        "tokens": lambda: _null_if_failed(cols, tokens * _f(1.0)),
        "error_rate": lambda: case((_failed(cols), _f(1.0)), else_=_f(0.0)),
        "thumbs": lambda: cols.thumbs,
        "rating": lambda: cols.rating,
    }
    return simple[spec.name]()
