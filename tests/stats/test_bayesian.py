"""Bayesian reports: closed forms checked by integration, Monte Carlo checked against exact formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special
from scipy import stats as sps

from promptevolve.stats import (
    NormalPrior,
    ProportionStats,
    SampleStats,
    Status,
    bayesian_effect_test,
    beta_binomial_test,
    normal_risks,
    welch_test,
)

arms = st.tuples(st.integers(2, 20_000), st.floats(0.01, 0.99)).map(
    lambda t: ProportionStats(t[0], round(t[0] * t[1]))
)


def exact_chance_b_beats_a(a: ProportionStats, b: ProportionStats) -> float:
    """Evan Miller's closed form of P(pb > pa) for Beta(s + 1, f + 1) posteriors (integer counts)."""
    aa, ba, ab, bb = a.successes + 1, a.failures + 1, b.successes + 1, b.failures + 1
    i = np.arange(int(ab))
    logs = (
        special.betaln(aa + i, ba + bb) - np.log(bb + i) - special.betaln(1 + i, bb) - special.betaln(aa, ba)
    )
    return float(np.exp(logs).sum())


@settings(deadline=None)  # numerical integration: slow on a cold cache, never wrong for it
@given(st.floats(-5, 5), st.floats(0.01, 3))
def test_normal_risks_equal_the_integrals_of_the_expected_loss(mean, sd) -> None:
    control, treatment = normal_risks(mean, sd)
    lower, upper = mean - 12 * sd, mean + 12 * sd
    density = sps.norm(mean, sd).pdf
    want_control = integrate.quad(lambda d: d * density(d), 0, max(upper, 0), points=[mean])[0]
    want_treatment = integrate.quad(lambda d: -d * density(d), min(lower, 0), 0, points=[mean])[0]
    assert control == pytest.approx(max(want_control, 0), rel=1e-6, abs=1e-9)
    assert treatment == pytest.approx(max(want_treatment, 0), rel=1e-6, abs=1e-9)
    assert control - treatment == pytest.approx(mean, rel=1e-9, abs=1e-9)  # E[max(δ,0)] − E[max(−δ,0)] = E[δ]


@given(arms, arms, st.booleans())
def test_flat_prior_chance_to_win_is_one_minus_the_one_sided_p_value(a, b, relative) -> None:
    bayes = bayesian_effect_test(a, b, relative=relative)
    if not bayes.ok:
        return
    z = bayes.estimate / bayes.std_dev
    assert bayes.chance_to_win == pytest.approx(sps.norm.cdf(z), rel=1e-9, abs=1e-15)
    assert bayes.ci_low <= bayes.estimate <= bayes.ci_high
    assert bayes.estimate == welch_test(a, b, relative=relative).estimate


def test_proper_prior_shrinks_the_estimate_toward_the_prior_mean() -> None:
    a, b = SampleStats.from_values([1.0, 2.0, 3.0, 4.0]), SampleStats.from_values([3.0, 4.0, 5.0, 6.0])
    flat = bayesian_effect_test(a, b)
    tight = bayesian_effect_test(a, b, prior=NormalPrior(0.0, 0.01))
    assert 0 < tight.estimate < flat.estimate and tight.std_dev < flat.std_dev
    assert tight.chance_to_win < flat.chance_to_win


@pytest.mark.parametrize(("a", "b"), [((40, 25), (40, 31)), ((1000, 700), (1000, 730)), ((12, 3), (9, 1))])
def test_beta_binomial_chance_to_win_matches_the_exact_formula(a, b) -> None:
    """Monte Carlo with 200,000 draws: within 4 standard errors (≤ 0.0045) of the exact probability."""
    pa, pb = ProportionStats(*a), ProportionStats(*b)
    result = beta_binomial_test(pa, pb, rng=np.random.default_rng(1), draws=200_000)
    exact = exact_chance_b_beats_a(pa, pb)
    assert result.chance_to_win == pytest.approx(
        exact, abs=4 * math.sqrt(exact * (1 - exact) / 200_000) + 1e-4
    )
    assert result.ci_low <= result.estimate <= result.ci_high


def test_beta_binomial_agrees_with_the_normal_approximation_on_large_samples() -> None:
    a, b = ProportionStats(20_000, 14_000), ProportionStats(20_000, 14_150)
    mc = beta_binomial_test(a, b, rng=np.random.default_rng(2), relative=True)
    normal = bayesian_effect_test(a, b, relative=True)
    assert mc.chance_to_win == pytest.approx(normal.chance_to_win, abs=0.01)
    assert mc.risk_treatment == pytest.approx(normal.risk_treatment, rel=0.05)
    assert mc.estimate == pytest.approx(normal.estimate, rel=0.02)


def test_beta_binomial_is_reproducible_from_the_generator_it_is_given() -> None:
    a, b = ProportionStats(50, 30), ProportionStats(50, 35)
    first = beta_binomial_test(a, b, rng=np.random.default_rng(9), draws=5000)
    assert first == beta_binomial_test(a, b, rng=np.random.default_rng(9), draws=5000)


def test_no_data_reports_a_coin_flip_with_a_status() -> None:
    empty = ProportionStats(0, 0)
    mc = beta_binomial_test(empty, ProportionStats(5, 2), rng=np.random.default_rng(0))
    normal = bayesian_effect_test(SampleStats(1, 1.0, 1.0), SampleStats(5, 5.0, 7.0))
    for result in (mc, normal):
        assert result.status is Status.INSUFFICIENT_DATA and result.chance_to_win == 0.5
