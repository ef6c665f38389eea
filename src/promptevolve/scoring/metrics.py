"""Per-execution metrics: what each metric name means, which way is better, and its value for one call.

A metric maps one execution (its row, its scores, its feedback) to a number or to ``None`` when the
execution says nothing about it; ``None`` leaves the execution out of that metric's sample. These pure
functions are the definition; ``scoring.sql`` computes exactly the same values in SQL (a test checks the
two agree on both databases), because experiments aggregate them in the database.

**The components of the composite** (each in [0, 1]; see ``composite.py``):

- ``accuracy``: the first present of ``ScoringConfig.accuracy_sources``, in order (default
  ``evaluator, feedback, correction``):

  - ``evaluator``: the mean of the execution's ``accuracy`` scores (``scores.metric = 'accuracy'``);
  - ``feedback``: the mean of its ``score`` feedback (0–1);
  - ``correction``: a correction is the right answer given by a person: 1 when every correction equals
    the output (spaces trimmed at both ends), else 0 — a correction usually means the output was wrong;
  - ``thumbs`` (only when configured): the mean of thumbs (1 up, 0 down).

- ``response_time``: ``1`` at or under the target latency, else ``target / latency`` (so twice the
  target scores 0.5); missing when the latency is unknown.
- ``consistency``: the mean of the present ``ScoringConfig.consistency_metrics`` scores (default
  ``format_valid``, recorded by the SDK for JSON variants, and ``agreement``, recorded by evaluators
  comparing repeated or similar outputs).
- ``satisfaction``: the mean of the present of: mean thumbs, and mean rating mapped ``(r − 1) / 4``.

A **failed** execution (status ``error``) scores 0 on every component: it gave the user nothing.

**Other metrics**: ``composite`` (and ``coverage``, its present weight share), ``latency_ms``,
``cost_usd``, ``tokens`` (prompt + completion) — all three only over calls that did not fail, the
failures being what ``error_rate`` (1 for a failed call, else 0) counts; ``thumbs`` (mean, 0/1),
``rating`` (mean, 1–5) and ``score:NAME`` (the mean of the execution's scores of metric ``NAME``, as
recorded by an evaluator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from promptevolve.core.errors import ValidationError
from promptevolve.scoring.composite import Components, ScoringConfig, composite

__all__ = [
    "BUILTIN_METRICS",
    "SCORE_PREFIX",
    "Direction",
    "ExecutionRecord",
    "MetricSpec",
    "accuracy",
    "components",
    "consistency",
    "metric_spec",
    "metric_value",
    "response_time",
    "satisfaction",
]

#: Prefix of metrics read straight from ``scores.metric`` (``score:exact_match``).
SCORE_PREFIX = "score:"


class Direction(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A metric's name, which direction is better, and whether its values lie in [0, 1]."""

    name: str
    direction: Direction
    bounded: bool
    description: str

    @property
    def sign(self) -> int:
        """+1 when higher is better, −1 when lower is better: multiplies a lift into "better"."""
        return 1 if self.direction is Direction.HIGHER else -1

    @property
    def score_metric(self) -> str | None:
        """For ``score:NAME``, the ``scores.metric`` it reads."""
        return self.name.removeprefix(SCORE_PREFIX) if self.name.startswith(SCORE_PREFIX) else None


def _spec(name: str, direction: Direction, bounded: bool, description: str) -> MetricSpec:
    return MetricSpec(name, direction, bounded, description)


_H, _L = Direction.HIGHER, Direction.LOWER
BUILTIN_METRICS: Mapping[str, MetricSpec] = {
    s.name: s
    for s in (
        _spec("composite", _H, True, "weighted mean of the present components"),
        _spec("coverage", _H, True, "share of the composite's weight that was measured"),
        _spec("accuracy", _H, True, "evaluator accuracy, else feedback score or correction"),
        _spec("response_time", _H, True, "1 at or under the target latency, else target / latency"),
        _spec("consistency", _H, True, "format validity and agreement scores"),
        _spec("satisfaction", _H, True, "thumbs and ratings mapped to [0, 1]"),
        _spec("latency_ms", _L, False, "latency of calls that did not fail, in ms"),
        _spec("error_rate", _L, True, "1 for a failed call, else 0"),
        _spec("cost_usd", _L, False, "cost of calls that did not fail, in USD"),
        _spec("tokens", _L, False, "prompt + completion tokens of calls that did not fail"),
        _spec("thumbs", _H, True, "share of thumbs up"),
        _spec("rating", _H, False, "mean 1–5 rating"),
    )
}


def metric_spec(name: str) -> MetricSpec:
    """The spec of a built-in metric or of ``score:NAME``; ``ValidationError`` names the known ones."""
    if name in BUILTIN_METRICS:
        return BUILTIN_METRICS[name]
    if name.startswith(SCORE_PREFIX) and len(name) > len(SCORE_PREFIX):
        return MetricSpec(name, Direction.HIGHER, True, f"evaluator score {name[len(SCORE_PREFIX) :]!r}")
    known = ", ".join(BUILTIN_METRICS)
    raise ValidationError(
        f"unknown metric {name!r}: use one of {known}, or score:NAME for an evaluator's score"
    )


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """What the metrics read about one execution. ``scores`` holds the mean of the execution's scores
    per metric name; feedback lists hold every value given (thumbs 1/0, ratings 1–5, scores 0–1)."""

    status: str = "ok"
    latency_ms: float | None = None
    cost_usd: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    output: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    thumbs: Sequence[float] = ()
    ratings: Sequence[float] = ()
    feedback_scores: Sequence[float] = ()
    corrections: Sequence[str] = ()

    @property
    def failed(self) -> bool:
        return self.status == "error"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean_present(values: Sequence[float | None]) -> float | None:
    return _mean([v for v in values if v is not None])


def _correction_match(record: ExecutionRecord) -> float | None:
    if not record.corrections:
        return None
    output = record.output.strip(" ") if record.output is not None else None
    return 1.0 if all(c.strip(" ") == output for c in record.corrections) else 0.0


def accuracy(record: ExecutionRecord, config: ScoringConfig) -> float | None:
    if record.failed:
        return 0.0
    sources = {
        "evaluator": lambda: record.scores.get("accuracy"),
        "feedback": lambda: _mean(record.feedback_scores),
        "correction": lambda: _correction_match(record),
        "thumbs": lambda: _mean(record.thumbs),
    }
    for source in config.accuracy_sources:
        value = sources[source]()
        if value is not None:
            return value
    return None


def response_time(record: ExecutionRecord, config: ScoringConfig) -> float | None:
    if record.failed:
        return 0.0
    if record.latency_ms is None:
        return None
    target = config.target_latency_ms
    return 1.0 if record.latency_ms <= target else target / record.latency_ms


def consistency(record: ExecutionRecord, config: ScoringConfig) -> float | None:
    if record.failed:
        return 0.0
    return _mean_present([record.scores.get(m) for m in config.consistency_metrics])


def satisfaction(record: ExecutionRecord, config: ScoringConfig) -> float | None:
    if record.failed:
        return 0.0
    rating = _mean(record.ratings)
    return _mean_present([_mean(record.thumbs), None if rating is None else (rating - 1.0) / 4.0])


def components(record: ExecutionRecord, config: ScoringConfig) -> Components:
    return Components(
        accuracy=accuracy(record, config),
        response_time=response_time(record, config),
        consistency=consistency(record, config),
        satisfaction=satisfaction(record, config),
    )


def _unless_failed(record: ExecutionRecord, value: float | None) -> float | None:
    return None if record.failed else value


def _tokens(record: ExecutionRecord) -> float | None:
    if record.failed or record.prompt_tokens is None or record.completion_tokens is None:
        return None
    return float(record.prompt_tokens + record.completion_tokens)


def metric_value(record: ExecutionRecord, spec: MetricSpec, config: ScoringConfig) -> float | None:
    """The value of ``spec`` for one execution, ``None`` when the execution does not measure it."""
    if spec.score_metric is not None:
        return record.scores.get(spec.score_metric)
    name = spec.name
    if name in ("composite", "coverage"):
        score = composite(components(record, config), config.weights, min_coverage=config.min_coverage)
        return score.value if name == "composite" else score.coverage
    simple = {
        "accuracy": lambda: accuracy(record, config),
        "response_time": lambda: response_time(record, config),
        "consistency": lambda: consistency(record, config),
        "satisfaction": lambda: satisfaction(record, config),
        "latency_ms": lambda: _unless_failed(record, record.latency_ms),
        "cost_usd": lambda: _unless_failed(record, record.cost_usd),
        "tokens": lambda: _tokens(record),
        "error_rate": lambda: 1.0 if record.failed else 0.0,
        "thumbs": lambda: _mean(record.thumbs),
        "rating": lambda: _mean(record.ratings),
    }
    return simple[name]()
