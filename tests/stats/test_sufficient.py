"""Sufficient statistics are additive, agree with NumPy, and give ratio metrics a delta-method variance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from promptevolve.core.errors import ValidationError
from promptevolve.stats import ProportionStats, RatioStats, SampleStats

values = arrays(np.float64, st.integers(0, 60), elements=st.floats(-1e3, 1e3, allow_nan=False))
binary = arrays(np.int8, st.integers(0, 60), elements=st.integers(0, 1))


@given(values, values)
def test_sample_stats_of_two_samples_add_up_to_stats_of_their_union(x, y) -> None:
    joined = SampleStats.from_values(np.concatenate([x, y]))
    added = SampleStats.from_values(x) + SampleStats.from_values(y)
    assert added.n == joined.n
    assert math.isclose(added.total, joined.total, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(added.total_sq, joined.total_sq, rel_tol=1e-9, abs_tol=1e-6)


@given(binary, binary)
def test_proportion_stats_add_up(x, y) -> None:
    assert ProportionStats.from_values(x) + ProportionStats.from_values(y) == ProportionStats.from_values(
        np.concatenate([x, y])
    )


@given(arrays(np.float64, st.integers(2, 60), elements=st.floats(-1e3, 1e3, allow_nan=False)))
def test_sample_stats_mean_and_unbiased_variance_match_numpy(x) -> None:
    s = SampleStats.from_values(x)
    assert math.isclose(s.mean, np.mean(x), rel_tol=1e-9, abs_tol=1e-9)
    # Σy² − (Σy)²/n loses digits to cancellation; the tolerance is relative to the scale of Σy²/n.
    assert math.isclose(s.variance, np.var(x, ddof=1), rel_tol=1e-7, abs_tol=1e-9 * (1 + s.total_sq / s.n))
    assert s.variance >= 0


def test_proportion_variance_is_the_plugin_bernoulli_variance_as_in_gbstats() -> None:
    s = ProportionStats(n=1000, successes=700)
    assert s.mean == 0.7 and math.isclose(s.variance, 0.21) and s.failures == 300
    assert s.total == s.total_sq == 700


def test_empty_and_single_unit_arms_have_zero_mean_or_variance_instead_of_raising() -> None:
    assert SampleStats(0, 0.0, 0.0).mean == 0 and SampleStats(0, 0.0, 0.0).variance == 0
    assert SampleStats(1, 5.0, 25.0).variance == 0
    assert ProportionStats(0, 0).mean == 0
    assert RatioStats(1, 1.0, 2.0, 1.0, 4.0, 2.0).variance == 0


@given(
    arrays(np.float64, st.integers(2, 50), elements=st.floats(0.0, 100.0)),
    st.integers(0, 2**32 - 1),
)
def test_ratio_variance_equals_variance_of_the_linearised_ratio(x, seed) -> None:
    """The delta method is the sample variance of ``(x − R y) / ȳ`` (Deng et al. 2018, eq. 2)."""
    y = np.random.default_rng(seed).uniform(1.0, 10.0, size=x.size)
    s = RatioStats.from_values(x, y)
    linearised = (x - s.mean * y) / y.mean()
    assert math.isclose(s.mean, x.sum() / y.sum(), rel_tol=1e-12)
    assert math.isclose(s.variance, np.var(linearised, ddof=1), rel_tol=1e-6, abs_tol=1e-9)


def test_ratio_delta_method_variance_matches_repeated_sampling() -> None:
    rng = np.random.default_rng(3)
    n, reps = 200, 4000
    tokens = rng.poisson(300, size=(reps, n)) + 1.0
    cost = tokens * rng.lognormal(-9, 0.5, size=(reps, n))
    observed = np.var(cost.sum(axis=1) / tokens.sum(axis=1), ddof=1)
    predicted = np.mean(
        [RatioStats.from_values(c, t).variance / n for c, t in zip(cost, tokens, strict=True)]
    )
    assert predicted == pytest.approx(observed, rel=0.06)  # 4000 replications: about 2 % Monte Carlo error


def test_ratio_stats_add_up_and_reject_mismatched_lengths() -> None:
    x, y = np.arange(1.0, 7.0), np.arange(2.0, 8.0)
    assert RatioStats.from_values(x[:2], y[:2]) + RatioStats.from_values(
        x[2:], y[2:]
    ) == RatioStats.from_values(x, y)
    with pytest.raises(ValidationError):
        RatioStats.from_values([1.0, 2.0], [1.0])
