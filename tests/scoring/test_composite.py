"""The composite score: default weights, renormalisation over present components, coverage, config."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptevolve.core.errors import ValidationError
from promptevolve.scoring import Components, ScoringConfig, Weights, composite


def test_default_weights_are_40_20_20_20():
    w = ScoringConfig().weights
    assert (w.accuracy, w.response_time, w.consistency, w.satisfaction) == (0.4, 0.2, 0.2, 0.2)
    full = composite(Components(1.0, 0.5, 0.0, 1.0), w)
    assert full.value == pytest.approx(0.4 + 0.1 + 0.0 + 0.2) and full.coverage == pytest.approx(1.0)
    assert full.missing == ()


def test_missing_components_are_renormalised_and_reported_never_zero():
    only_speed = composite(Components(response_time=0.8), Weights())
    assert only_speed.value == pytest.approx(0.8), "a missing component must not pull the score to 0"
    assert only_speed.coverage == pytest.approx(0.2)
    assert only_speed.missing == ("accuracy", "consistency", "satisfaction")
    two = composite(Components(accuracy=1.0, response_time=0.4), Weights())
    assert two.value == pytest.approx((0.4 * 1.0 + 0.2 * 0.4) / 0.6) and two.coverage == pytest.approx(0.6)


def test_nothing_measured_or_too_little_coverage_gives_no_composite():
    assert composite(Components(), Weights()).value is None
    thin = composite(Components(response_time=1.0), Weights(), min_coverage=0.5)
    assert thin.value is None and thin.coverage == pytest.approx(0.2)
    zero_weight = composite(Components(satisfaction=1.0), Weights(satisfaction=0.0))
    assert zero_weight.value is None and zero_weight.coverage == 0.0


def test_scoring_config_is_read_from_the_prompt_config_and_validated():
    cfg = ScoringConfig.from_prompt_config(
        {"scoring": {"weights": {"accuracy": 1, "satisfaction": 0}, "target_latency_ms": 800}, "other": 1}
    )
    assert cfg.weights.accuracy == 1 and cfg.weights.satisfaction == 0 and cfg.target_latency_ms == 800
    assert ScoringConfig.from_prompt_config(None) == ScoringConfig()
    with pytest.raises(ValidationError, match="weights"):
        ScoringConfig.from_prompt_config({"scoring": {"weights": {"accuracy": -1}}})
    with pytest.raises(ValidationError, match="at least one component weight"):
        ScoringConfig.from_prompt_config(
            {"scoring": {"weights": {"accuracy": 0, "response_time": 0, "consistency": 0, "satisfaction": 0}}}
        )
    with pytest.raises(ValidationError, match="accuracy_sources"):
        ScoringConfig.from_prompt_config({"scoring": {"accuracy_sources": ["guess"]}})


unit = st.one_of(st.none(), st.floats(0.0, 1.0))


@given(unit, unit, unit, unit, st.floats(0.01, 5), st.floats(0.01, 5))
def test_composite_is_a_weighted_mean_of_what_is_present(a, r, c, s, w1, w2):
    weights = Weights(accuracy=w1, response_time=w2, consistency=1.0, satisfaction=0.5)
    score = composite(Components(a, r, c, s), weights)
    present = [v for v in (a, r, c, s) if v is not None]
    if not present:
        assert score.value is None
        return
    assert min(present) - 1e-12 <= score.value <= max(present) + 1e-12
    assert 0 < score.coverage <= 1 + 1e-12
    names = ("accuracy", "response_time", "consistency", "satisfaction")
    measured = sum(weights.of(k) for k, v in zip(names, (a, r, c, s), strict=True) if v is not None)
    assert math.isclose(score.coverage * weights.total, measured)
