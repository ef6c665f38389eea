"""What no data can produce is refused with the function and parameter named; for any valid input, a
result marked OK has a finite interval with ``ci_low <= ci_high`` and a p-value in [0, 1] (issue 14,
item 7: a NaN count passed the SRM check, impossible arms got confident answers, ``alpha`` and
``tuning`` outside their domain crashed deep inside or gave NaN intervals marked OK)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptevolve.core.errors import ValidationError
from promptevolve.stats import (
    NormalPrior,
    ProportionStats,
    RatioStats,
    SampleStats,
    Status,
    bayesian_effect_test,
    beta_binomial_test,
    confidence_sequence_test,
    cs_half_width,
    msprt_test,
    normal_risks,
    power_at_n,
    proportion_sample_size,
    sequential_rho,
    srm_test,
    two_proportion_z_test,
    welch_test,
)

A = SampleStats.from_values([1.0, 2.0, 3.0, 4.0])
B = SampleStats.from_values([2.0, 3.0, 4.0, 6.0])
PA, PB = ProportionStats(100, 40), ProportionStats(100, 55)
NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("counts", "named"),
    [
        ([NAN, 100], r"counts\[0\] must be a whole number of at least 0, got nan"),
        ([100, -1], r"counts\[1\] .* got -1.0"),
        ([100, 99.5], r"counts\[1\] .* got 99.5"),
        ([INF, 100], r"counts\[0\] .* got inf"),
    ],
)
def test_srm_refuses_counts_no_router_can_produce(counts, named) -> None:
    with pytest.raises(ValidationError, match=f"srm_test: {named}"):
        srm_test(counts, [0.5, 0.5])


@pytest.mark.parametrize(
    ("shares", "named"),
    [
        ([NAN, 0.5], r"expected_shares\[0\] must be a finite number, got nan"),
        ([0.5, INF], r"expected_shares\[1\] must be a finite number"),
        ([0.5, -0.5], r"expected_shares\[1\] must be at least 0"),
        ([0.0, 0.0], r"at least one expected share must be above 0"),
    ],
)
def test_srm_refuses_shares_outside_their_domain(shares, named) -> None:
    with pytest.raises(ValidationError, match=f"srm_test: {named}"):
        srm_test([100, 100], shares)


def test_srm_with_whole_counts_given_as_floats_still_answers() -> None:
    assert srm_test([100.0, 98.0], [1, 1]).status is Status.OK


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: ProportionStats(100, 101), r"ProportionStats: successes must lie between 0 and n=100"),
        (lambda: ProportionStats(100, -1), r"ProportionStats: successes must lie between 0 and n=100"),
        (lambda: ProportionStats(-5, 0), r"ProportionStats: n must be a whole number of at least 0"),
        (lambda: ProportionStats(10, NAN), r"ProportionStats: successes must be a finite number"),
        (lambda: ProportionStats(2.5, 1), r"ProportionStats: n must be a whole number"),  # type: ignore[arg-type]
        (lambda: SampleStats(-1, 0.0, 0.0), r"SampleStats: n must be a whole number of at least 0"),
        (lambda: SampleStats(10, NAN, 1.0), r"SampleStats: total must be a finite number"),
        (lambda: SampleStats(10, 1.0, -1.0), r"SampleStats: no 10 real values have total=1.0"),
        (lambda: SampleStats(2, 10.0, 1.0), r"total_sq must be at least total² / n"),
        (lambda: SampleStats.from_values([1.0, NAN]), r"SampleStats: total must be a finite number"),
        (lambda: RatioStats(3, 1.0, 3.0, 1.0, 0.5, 1.0), r"RatioStats: no 3 real values have sum_y=3.0"),
        (lambda: RatioStats(3, 1.0, 3.0, 1.0, 3.0, INF), r"RatioStats: sum_xy must be a finite number"),
    ],
)
def test_arm_statistics_no_data_can_produce_are_refused(make, named) -> None:
    with pytest.raises(ValidationError, match=named):
        make()


BAD_ALPHAS = [0.0, 1.0, 1.5, -0.1, NAN, INF]


@pytest.mark.parametrize("alpha", BAD_ALPHAS)
@pytest.mark.parametrize(
    ("where", "call"),
    [
        ("welch_test", lambda alpha: welch_test(A, B, alpha=alpha)),
        ("two_proportion_z_test", lambda alpha: two_proportion_z_test(PA, PB, alpha=alpha)),
        ("sequential_rho", lambda alpha: confidence_sequence_test(A, B, alpha=alpha)),
        ("msprt_test", lambda alpha: msprt_test(A, B, tau_sq=1.0, alpha=alpha)),
        ("bayesian_effect_test", lambda alpha: bayesian_effect_test(A, B, alpha=alpha)),
        (
            "beta_binomial_test",
            lambda alpha: beta_binomial_test(PA, PB, rng=np.random.default_rng(0), alpha=alpha),
        ),
        ("power analysis", lambda alpha: proportion_sample_size(baseline=0.5, mde=0.05, alpha=alpha)),
    ],
)
def test_alpha_outside_zero_one_is_refused_naming_the_parameter(where, call, alpha) -> None:
    with pytest.raises(ValidationError, match=f"{where}: alpha must lie strictly between 0 and 1"):
        call(alpha)


@pytest.mark.parametrize("tuning", [0.0, -100.0, NAN, INF])
def test_a_tuning_that_is_not_a_positive_size_is_refused(tuning) -> None:
    with pytest.raises(ValidationError, match="sequential_rho: tuning must be a finite number above 0"):
        confidence_sequence_test(A, B, tuning=tuning)
    with pytest.raises(ValidationError, match="tuning"):
        cs_half_width(0.1, 100, tuning=tuning)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: msprt_test(A, B, tau_sq=0.0), "msprt_test: tau_sq must be a finite number above 0"),
        (lambda: msprt_test(A, B, tau_sq=NAN), "msprt_test: tau_sq"),
        (lambda: NormalPrior(variance=0.0), "NormalPrior: variance must be a finite number above 0"),
        (lambda: NormalPrior(mean=NAN), "NormalPrior: mean must be a finite number"),
        (lambda: normal_risks(0.1, 0.0), "normal_risks: std_dev must be a finite number above 0"),
        (
            lambda: beta_binomial_test(PA, PB, rng=np.random.default_rng(0), draws=0),
            "beta_binomial_test: draws must be a whole number of at least 2",
        ),
        (
            lambda: beta_binomial_test(PA, PB, rng=np.random.default_rng(0), prior_successes=0),
            "beta_binomial_test: prior_successes must be a finite number above 0",
        ),
        (
            lambda: power_at_n(n_per_arm=NAN, baseline_mean=1, baseline_variance=1, mde=0.1),
            "power analysis: n_per_arm must be a finite number above 0",
        ),
        (
            lambda: power_at_n(n_per_arm=100, baseline_mean=1, baseline_variance=NAN, mde=0.1),
            "power analysis: baseline_variance must be a finite number above 0",
        ),
        (lambda: sequential_rho(0.05, tuning=0), "sequential_rho: tuning"),
    ],
)
def test_other_parameters_outside_their_domain_are_refused_naming_them(call, named) -> None:
    with pytest.raises(ValidationError, match=named):
        call()


# --- for any valid input: OK means a finite, ordered interval and a p-value in [0, 1] ----------------

alphas = st.floats(0.0, 1.0, exclude_min=True, exclude_max=True)


@st.composite
def sample_arms(draw) -> SampleStats:
    """Any arm real data can give: n units, a mean and a variance (moderate to extreme scales)."""
    n = draw(st.integers(0, 10_000_000))
    mean = draw(st.floats(-1e9, 1e9))
    variance = draw(st.floats(0.0, 1e12))
    total = n * mean
    total_sq = (n - 1) * variance + total * total / n if n > 1 else total * total
    return SampleStats(n, total, total_sq)


@st.composite
def proportion_arms(draw) -> ProportionStats:
    n = draw(st.integers(0, 10_000_000))
    return ProportionStats(n, draw(st.integers(0, n)))


def _assert_ok_is_sound(result) -> None:
    if result.ok:
        assert math.isfinite(result.ci_low) and math.isfinite(result.ci_high), result
        assert result.ci_low <= result.ci_high, result
        assert math.isfinite(result.estimate), result
    p = getattr(result, "p_value", None)
    if p is not None:
        assert 0.0 <= p <= 1.0, result


@settings(max_examples=300, deadline=None)
@given(
    a=sample_arms(),
    b=sample_arms(),
    alpha=alphas,
    relative=st.booleans(),
    tuning=st.floats(1e-3, 1e9),
    tau_sq=st.floats(1e-9, 1e9),
)
def test_numeric_tests_never_mark_a_nan_or_inverted_interval_ok(
    a, b, alpha, relative, tuning, tau_sq
) -> None:
    _assert_ok_is_sound(welch_test(a, b, alpha=alpha, relative=relative))
    _assert_ok_is_sound(confidence_sequence_test(a, b, alpha=alpha, relative=relative, tuning=tuning))
    _assert_ok_is_sound(msprt_test(a, b, tau_sq=tau_sq, alpha=alpha, relative=relative))
    _assert_ok_is_sound(bayesian_effect_test(a, b, alpha=alpha, relative=relative))


@settings(max_examples=300, deadline=None)
@given(a=proportion_arms(), b=proportion_arms(), alpha=alphas, relative=st.booleans())
def test_proportion_tests_never_mark_a_nan_or_inverted_interval_ok(a, b, alpha, relative) -> None:
    _assert_ok_is_sound(two_proportion_z_test(a, b, alpha=alpha, relative=relative))
    _assert_ok_is_sound(confidence_sequence_test(a, b, alpha=alpha, relative=relative))
    _assert_ok_is_sound(
        beta_binomial_test(a, b, rng=np.random.default_rng(0), draws=200, alpha=alpha, relative=relative)
    )


@settings(max_examples=300, deadline=None)
@given(
    counts=st.lists(st.integers(0, 10**9), min_size=1, max_size=6),
    shares=st.lists(st.floats(0.0, 1e6), min_size=6, max_size=6),
)
def test_srm_on_any_valid_input_answers_a_p_value_in_zero_one(counts, shares) -> None:
    shares = shares[: len(counts)]
    if sum(shares) <= 0:
        shares[0] = 1.0
    result = srm_test(counts, shares)
    assert 0.0 <= result.p_value <= 1.0 and result.status in (Status.OK, Status.INSUFFICIENT_DATA)


def test_srm_treats_a_share_whose_expected_count_underflows_as_a_share_of_zero() -> None:
    """Found by the property above: 5e-324 / 2 × 1 unit is 0.0 in floats, and dividing by it gave NaN."""
    empty = srm_test([0, 0, 1], [0.0, 5e-324, 2.0])
    assert empty.status is Status.INSUFFICIENT_DATA and empty.p_value == 1.0
    crowded = srm_test([0, 3, 1], [0.0, 5e-324, 2.0])
    assert crowded.p_value == 0.0 and crowded.blocks
    assert 0.0 <= srm_test([5, 0, 4], [1.0, 5e-324, 1.0]).p_value <= 1.0
