"""Always-valid tests: watching them at every look keeps false positives under alpha."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from promptevolve.stats import (
    ProportionStats,
    SampleStats,
    Status,
    confidence_sequence_test,
    cs_half_width,
    cs_p_value,
    lift_variance,
    msprt_p_value,
    msprt_test,
    sequential_rho,
    welch_test,
)

arms = st.tuples(st.integers(2, 20_000), st.floats(0.01, 0.99)).map(
    lambda t: ProportionStats(t[0], round(t[0] * t[1]))
)


def peeking_paths(paths: int, looks: int, per_look: int, p: float, seed: int):
    """Cumulative Bernoulli(p) successes of two arms, looked at every ``per_look`` units per arm."""
    rng = np.random.default_rng(seed)
    n = per_look * np.arange(1, looks + 1)
    sa = np.cumsum(rng.binomial(per_look, p, size=(paths, looks)), axis=1)
    sb = np.cumsum(rng.binomial(per_look, p, size=(paths, looks)), axis=1)
    ma, mb = sa / n, sb / n
    variance = lift_variance(ma, ma * (1 - ma), n, mb, mb * (1 - mb), n, relative=False)
    return mb - ma, variance, n


def test_peeking_keeps_false_positives_under_alpha() -> None:
    """A/A, 2,000 paths × 200 looks: ever rejecting stays under 5 % (+1 % for Monte Carlo error)."""
    estimate, variance, n = peeking_paths(2000, 200, 25, 0.7, seed=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cs = np.where(variance > 0, cs_p_value(estimate, variance, 2 * n), 1.0)
        msprt = np.where(variance > 0, msprt_p_value(estimate, variance, tau_sq=0.05**2), 1.0)
    assert np.mean(np.any(cs < 0.05, axis=1)) < 0.06
    assert np.mean(np.any(msprt < 0.05, axis=1)) < 0.06


def test_naive_peeking_at_a_fixed_horizon_test_inflates_false_positives() -> None:
    """The same paths read with a fixed-horizon z-test at each look reject far more than 5 %."""
    estimate, variance, _ = peeking_paths(2000, 200, 25, 0.7, seed=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, np.abs(estimate) / np.sqrt(variance), 0.0)
    assert np.mean(np.any(z > sps.norm.ppf(0.975), axis=1)) > 0.3


@given(arms, arms, st.sampled_from([0.01, 0.05, 0.1]), st.floats(100, 100_000), st.booleans())
def test_confidence_sequence_excludes_zero_exactly_when_p_is_below_alpha(a, b, alpha, tuning, rel) -> None:
    result = confidence_sequence_test(a, b, alpha=alpha, tuning=tuning, relative=rel)
    if result.ok and abs(result.p_value - alpha) > 1e-9:
        assert result.ci_low <= result.estimate <= result.ci_high
        assert (result.p_value < alpha) == (result.ci_low > 0 or result.ci_high < 0)


@given(arms, arms, st.sampled_from([0.01, 0.05, 0.1]), st.floats(1e-6, 1.0))
def test_msprt_interval_excludes_zero_exactly_when_p_is_below_alpha(a, b, alpha, tau_sq) -> None:
    result = msprt_test(a, b, tau_sq=tau_sq, alpha=alpha)
    if result.ok and abs(result.p_value - alpha) > 1e-9:
        assert (result.p_value < alpha) == (result.ci_low > 0 or result.ci_high < 0)


@given(arms, arms, st.floats(100, 100_000), st.booleans())
def test_msprt_with_tau_squared_rho_squared_n_v_is_the_confidence_sequence(a, b, tuning, relative) -> None:
    cs = confidence_sequence_test(a, b, tuning=tuning, relative=relative)
    if not cs.ok:
        return
    n = a.n + b.n
    tau_sq = sequential_rho(0.05, tuning) ** 2 * n * cs.std_error**2
    ms = msprt_test(a, b, tau_sq=tau_sq, relative=relative)
    assert (ms.ci_low, ms.ci_high) == pytest.approx((cs.ci_low, cs.ci_high), rel=1e-9, abs=1e-12)
    assert ms.p_value == pytest.approx(cs.p_value, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("n_total", [20, 200, 2_000, 5_000, 50_000, 5_000_000])
def test_confidence_sequence_is_wider_than_the_fixed_horizon_interval(n_total) -> None:
    variance = 0.84 / n_total
    assert cs_half_width(variance, n_total) > sps.norm.ppf(0.975) * math.sqrt(variance)


def test_confidence_sequence_is_tightest_relative_to_fixed_horizon_near_the_tuning_size() -> None:
    sizes = np.array([500, 5_000, 50_000])
    ratio = cs_half_width(1.0 / sizes, sizes, tuning=5_000) / np.sqrt(1.0 / sizes)
    assert ratio[1] < ratio[0] and ratio[1] < ratio[2]


@given(st.floats(0.0, 0.2), st.floats(0.0, 0.2))
def test_sequential_p_value_falls_as_the_effect_grows(small, extra) -> None:
    v, n = 1e-4, 10_000
    assert cs_p_value(small + extra, v, n) <= cs_p_value(small, v, n)
    assert msprt_p_value(small + extra, v, tau_sq=1e-3) <= msprt_p_value(small, v, tau_sq=1e-3)


def test_sequential_test_is_more_conservative_than_welch_on_the_same_data() -> None:
    a, b = ProportionStats(1000, 700), ProportionStats(1000, 750)
    fixed, sequential = welch_test(a, b), confidence_sequence_test(a, b)
    assert fixed.p_value < 0.05 < sequential.p_value
    assert sequential.estimate == fixed.estimate and sequential.std_error == fixed.std_error


def test_rho_follows_eq_161_of_waudby_smith_et_al() -> None:
    expected = math.sqrt((-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / 5000)
    assert sequential_rho(0.05, 5000) == pytest.approx(expected, rel=1e-12)


def test_degenerate_data_gives_a_status_not_an_exception() -> None:
    one, many = SampleStats(1, 2.0, 4.0), SampleStats(10, 20.0, 50.0)
    assert confidence_sequence_test(one, many).status is Status.INSUFFICIENT_DATA
    assert msprt_test(many, one, tau_sq=1.0).p_value == 1.0
