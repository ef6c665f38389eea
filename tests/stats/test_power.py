"""Sample size and power: the issue's 1,248 per arm, and formulas that agree with simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from promptevolve.core.errors import ValidationError
from promptevolve.stats import (
    ProportionStats,
    power_at_n,
    proportion_power_at_n,
    proportion_sample_size,
    sample_size_per_arm,
    two_proportion_z_test,
)


def test_issue_example_needs_1248_per_arm_with_unpooled_variance() -> None:
    assert proportion_sample_size(baseline=0.70, mde=0.05) == 1248
    assert proportion_sample_size(baseline=0.70, mde=0.05, pooled=True) == 1251
    assert proportion_sample_size(baseline=0.70, mde=0.05 / 0.70, relative=True) == 1248


@given(
    st.floats(0.05, 0.9),
    st.floats(0.005, 0.09),
    st.sampled_from([0.01, 0.05, 0.1]),
    st.floats(0.5, 0.95),
    st.booleans(),
)
def test_power_reaches_the_target_at_the_sample_size_and_not_one_unit_before(base, mde, alpha, power, pooled):
    n = proportion_sample_size(baseline=base, mde=mde, alpha=alpha, power=power, pooled=pooled)
    reached = proportion_power_at_n(n_per_arm=n, baseline=base, mde=mde, alpha=alpha, pooled=pooled)
    assert reached >= power - 1e-9
    if n > 1:
        before = proportion_power_at_n(n_per_arm=n - 1, baseline=base, mde=mde, alpha=alpha, pooled=pooled)
        far_tail = sps.norm.sf(
            2 * sps.norm.ppf(1 - alpha / 2)
        )  # the wrong-sign rejections the n formula omits
        assert before < power + far_tail


@given(st.floats(0.1, 100), st.floats(0.01, 10), st.floats(0.05, 0.5))
def test_sample_size_for_means_scales_with_variance_over_effect_squared(mean, variance, relative_mde):
    n = sample_size_per_arm(baseline_mean=mean, baseline_variance=variance, mde=relative_mde, relative=True)
    exact = 7.848879734349 * 2 * variance / (relative_mde * mean) ** 2  # (z_.975 + z_.8)² · 2σ² / δ²
    assert n == pytest.approx(exact, abs=1.0)
    power = power_at_n(
        n_per_arm=n, baseline_mean=mean, baseline_variance=variance, mde=relative_mde, relative=True
    )
    assert power >= 0.8


def test_simulated_power_of_the_z_test_at_1248_per_arm_is_eighty_percent() -> None:
    """4,000 simulated experiments at 0.70 vs 0.75: rejection rate 0.80 ± 0.02 (3 Monte Carlo SE)."""
    rng = np.random.default_rng(4)
    sa, sb = rng.binomial(1248, 0.70, size=4000), rng.binomial(1248, 0.75, size=4000)
    rejected = [
        two_proportion_z_test(ProportionStats(1248, a), ProportionStats(1248, b)).p_value < 0.05
        for a, b in zip(sa, sb, strict=True)
    ]
    assert np.mean(rejected) == pytest.approx(0.80, abs=0.02)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline": 0.7, "mde": 0.0},
        {"baseline": 0.7, "mde": 0.4},
        {"baseline": 1.2, "mde": 0.05},
        {"baseline": 0.7, "mde": 0.05, "alpha": 1.5},
        {"baseline": 0.7, "mde": 0.05, "power": 0.0},
    ],
)
def test_impossible_inputs_raise_validation_error(kwargs) -> None:
    with pytest.raises(ValidationError):
        proportion_sample_size(**kwargs)


def test_power_needs_positive_n_and_variance() -> None:
    with pytest.raises(ValidationError):
        power_at_n(n_per_arm=0, baseline_mean=1.0, baseline_variance=1.0, mde=0.1)
    with pytest.raises(ValidationError):
        sample_size_per_arm(baseline_mean=1.0, baseline_variance=0.0, mde=0.1)
