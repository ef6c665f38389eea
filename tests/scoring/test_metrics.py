"""Per-execution metrics: each component's sources, the failure rule, and the metric catalogue."""

from __future__ import annotations

import pytest

from promptevolve.core.errors import ValidationError
from promptevolve.scoring import (
    Direction,
    ExecutionRecord,
    ScoringConfig,
    components,
    metric_spec,
    metric_value,
)
from promptevolve.scoring.metrics import accuracy, consistency, response_time, satisfaction

CFG = ScoringConfig()


def test_accuracy_prefers_the_evaluator_then_feedback_then_corrections():
    both = ExecutionRecord(scores={"accuracy": 0.9}, feedback_scores=[0.2], corrections=["x"], output="y")
    assert accuracy(both, CFG) == 0.9
    assert accuracy(ExecutionRecord(feedback_scores=[0.2, 0.6]), CFG) == pytest.approx(0.4)
    assert accuracy(ExecutionRecord(output=" Paris ", corrections=["Paris"]), CFG) == 1.0
    assert accuracy(ExecutionRecord(output="Lyon", corrections=["Paris"]), CFG) == 0.0
    assert accuracy(ExecutionRecord(output="Paris", corrections=["Paris", "paris"]), CFG) == 0.0
    assert accuracy(ExecutionRecord(thumbs=[1.0]), CFG) is None, "thumbs feed satisfaction, not accuracy"
    with_thumbs = ScoringConfig(accuracy_sources=("evaluator", "thumbs"))
    assert accuracy(ExecutionRecord(thumbs=[1.0, 0.0]), with_thumbs) == 0.5


def test_response_time_is_one_under_target_then_target_over_latency():
    cfg = ScoringConfig(target_latency_ms=1000)
    assert response_time(ExecutionRecord(latency_ms=400), cfg) == 1.0
    assert response_time(ExecutionRecord(latency_ms=1000), cfg) == 1.0
    assert response_time(ExecutionRecord(latency_ms=2000), cfg) == 0.5
    assert response_time(ExecutionRecord(latency_ms=None), cfg) is None


def test_consistency_averages_format_validity_and_agreement_when_present():
    assert consistency(ExecutionRecord(scores={"format_valid": 1.0}), CFG) == 1.0
    assert consistency(ExecutionRecord(scores={"format_valid": 0.0, "agreement": 0.8}), CFG) == pytest.approx(
        0.4
    )
    assert consistency(ExecutionRecord(scores={"accuracy": 1.0}), CFG) is None


def test_satisfaction_maps_ratings_to_unit_interval_and_averages_with_thumbs():
    assert satisfaction(ExecutionRecord(ratings=[5]), CFG) == 1.0
    assert satisfaction(ExecutionRecord(ratings=[1, 3]), CFG) == pytest.approx(0.25)
    assert satisfaction(ExecutionRecord(thumbs=[1.0], ratings=[3]), CFG) == pytest.approx(0.75)
    assert satisfaction(ExecutionRecord(), CFG) is None


def test_a_failed_call_scores_zero_everywhere_but_has_no_latency_or_cost():
    failed = ExecutionRecord(status="error", latency_ms=30_000, cost_usd=0.0)
    assert components(failed, CFG).as_dict() == dict.fromkeys(
        ("accuracy", "response_time", "consistency", "satisfaction"), 0.0
    )
    assert metric_value(failed, metric_spec("composite"), CFG) == 0.0
    assert metric_value(failed, metric_spec("error_rate"), CFG) == 1.0
    assert metric_value(failed, metric_spec("latency_ms"), CFG) is None
    assert metric_value(failed, metric_spec("cost_usd"), CFG) is None


def test_metric_catalogue_knows_directions_and_score_metrics():
    assert metric_spec("latency_ms").direction is Direction.LOWER and metric_spec("latency_ms").sign == -1
    assert metric_spec("composite").sign == 1
    exact = metric_spec("score:exact_match")
    assert exact.score_metric == "exact_match" and exact.bounded
    assert metric_value(ExecutionRecord(scores={"exact_match": 0.5}), exact, CFG) == 0.5
    ok = ExecutionRecord(prompt_tokens=10, completion_tokens=5, latency_ms=3.0)
    assert metric_value(ok, metric_spec("tokens"), CFG) == 15.0
    assert metric_value(ok, metric_spec("coverage"), CFG) == pytest.approx(0.2)
    with pytest.raises(ValidationError, match="unknown metric 'speed'"):
        metric_spec("speed")
    with pytest.raises(ValidationError):
        metric_spec("score:")
