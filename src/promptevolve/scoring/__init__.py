"""Scoring: per-execution metrics and the composite score (pure), and their SQL twin (``scoring.sql``).

- ``composite``: ``ScoringConfig`` (per prompt, ``prompts.config["scoring"]``), ``Weights``
  (0.4 / 0.2 / 0.2 / 0.2 by default), ``composite()`` with missing components renormalised and reported
  as coverage, never counted as 0;
- ``metrics``: the metric catalogue (``metric_spec``: name, better direction, bounds), the components
  (accuracy, response time, consistency, satisfaction) and ``metric_value`` for one execution;
- ``sql``: the same values as SQLAlchemy expressions, for aggregation in the database (imported from its
  module, so that ``import promptevolve.scoring`` stays free of SQLAlchemy).

Evaluators (exact match, JSON schema, judges, …) live in ``scoring.evaluators``.
"""

from promptevolve.scoring.composite import (
    COMPONENTS,
    SCORING_VERSION,
    AccuracySource,
    Components,
    CompositeScore,
    ScoringConfig,
    Weights,
    composite,
)
from promptevolve.scoring.metrics import (
    BUILTIN_METRICS,
    SCORE_PREFIX,
    Direction,
    ExecutionRecord,
    MetricSpec,
    components,
    metric_spec,
    metric_value,
)

__all__ = [
    "BUILTIN_METRICS",
    "COMPONENTS",
    "SCORE_PREFIX",
    "SCORING_VERSION",
    "AccuracySource",
    "Components",
    "CompositeScore",
    "Direction",
    "ExecutionRecord",
    "MetricSpec",
    "ScoringConfig",
    "Weights",
    "components",
    "composite",
    "metric_spec",
    "metric_value",
]
