"""Bayesian reports: chance to beat control and expected loss.

**Normal effect model** (``bayesian_effect_test``), as gbstats 0.8.0 ``EffectBayesianABTest``: the lift
``δ`` (absolute or relative, ``ratio.py``) has the asymptotically normal likelihood ``L̂ ~ N(δ, V)``; with
a flat prior (the default) the posterior is ``N(L̂, V)``, with a proper prior ``N(m0, v0)`` it is the
conjugate ``N((L̂/V + m0/v0) / (1/V + 1/v0), 1 / (1/V + 1/v0))``. The prior is in the units of the lift
being reported (relative when ``relative``). From the posterior ``N(μ, σ²)``::

    chance to win   = P(δ > 0) = Φ(μ / σ)
    risk of control = E[max(δ, 0)]  = μ Φ(μ/σ) + σ φ(μ/σ)   (what keeping control loses on average)
    risk of treatment = E[max(−δ, 0)] = −μ Φ(−μ/σ) + σ φ(μ/σ)  (what shipping treatment loses)

These closed forms of the truncated-normal means equal gbstats' ``get_risk``; the credible interval is
the central ``1 − alpha`` posterior interval.

**Beta-binomial** (``beta_binomial_test``) for 0/1 metrics: independent ``Beta(s + α0, f + β0)``
posteriors per arm (uniform ``Beta(1, 1)`` prior by default). Chance to win, expected losses and the
interval are **Monte Carlo** estimates from ``draws`` joint posterior draws made with the caller's NumPy
``Generator``: the Monte Carlo standard error of the chance to win is at most ``0.5 / sqrt(draws)``
(0.0016 at the default 100,000). Exact for small counts, and free of the normal approximation, which is
why a bandit or a low-traffic test may prefer it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from promptevolve.core.errors import ValidationError
from promptevolve.stats.checks import check_finite, check_positive, check_probability
from promptevolve.stats.ratio import lift
from promptevolve.stats.result import Status, checked_lift, usable
from promptevolve.stats.sufficient import ArmStats, ProportionStats

__all__ = ["BayesianResult", "NormalPrior", "bayesian_effect_test", "beta_binomial_test", "normal_risks"]


@dataclass(frozen=True)
class NormalPrior:
    """A proper normal prior on the lift, in the units of the lift reported."""

    mean: float = 0.0
    variance: float = 1.0

    def __post_init__(self) -> None:
        check_finite("NormalPrior", "mean", self.mean)
        check_positive("NormalPrior", "variance", self.variance)


@dataclass(frozen=True)
class BayesianResult:
    """Posterior summary of the lift of ``b`` over ``a``; ``nan`` fields and ``chance_to_win = 0.5``
    when ``status`` is not OK."""

    status: Status
    method: str
    relative: bool
    estimate: float
    std_dev: float
    ci_low: float
    ci_high: float
    chance_to_win: float
    risk_control: float
    risk_treatment: float

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @classmethod
    def unavailable(cls, status: Status, *, method: str, relative: bool) -> BayesianResult:
        nan = math.nan
        return cls(status, method, relative, nan, nan, nan, nan, 0.5, nan, nan)


def normal_risks(mean: float, std_dev: float) -> tuple[float, float]:
    """``(E[max(δ, 0)], E[max(−δ, 0)])`` for ``δ ~ N(mean, std_dev²)``: risk of control, of treatment."""
    check_finite("normal_risks", "mean", mean)
    check_positive("normal_risks", "std_dev", std_dev)
    z = mean / std_dev
    density = std_dev * float(sps.norm.pdf(z))
    return mean * float(sps.norm.cdf(z)) + density, -mean * float(sps.norm.cdf(-z)) + density


def _posterior(estimate: float, variance: float, prior: NormalPrior | None) -> tuple[float, float]:
    if prior is None:
        return estimate, math.sqrt(variance)
    precision = 1.0 / variance + 1.0 / prior.variance
    mean = (estimate / variance + prior.mean / prior.variance) / precision
    return mean, math.sqrt(1.0 / precision)


def bayesian_effect_test(
    a: ArmStats,
    b: ArmStats,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    prior: NormalPrior | None = None,
) -> BayesianResult:
    """Normal-approximation Bayesian comparison of ``b`` with ``a``; flat prior unless ``prior`` given."""
    check_probability("bayesian_effect_test", "alpha", alpha)
    est = checked_lift(a, b, relative=relative)
    if isinstance(est, Status):
        return BayesianResult.unavailable(est, method="normal_effect", relative=relative)
    mean, sd = _posterior(est.estimate, est.variance, prior)
    low, high = (float(q) for q in sps.norm.ppf([alpha / 2.0, 1.0 - alpha / 2.0], mean, sd))
    if not (usable(mean, sd, low, high) and sd > 0):
        return BayesianResult.unavailable(Status.NOT_FINITE, method="normal_effect", relative=relative)
    risk_control, risk_treatment = normal_risks(mean, sd)
    win = float(sps.norm.sf(0.0, mean, sd))
    return BayesianResult(
        Status.OK, "normal_effect", relative, mean, sd, low, high, win, risk_control, risk_treatment
    )


def beta_binomial_test(
    a: ProportionStats,
    b: ProportionStats,
    *,
    rng: np.random.Generator,
    draws: int = 100_000,
    alpha: float = 0.05,
    relative: bool = False,
    prior_successes: float = 1.0,
    prior_failures: float = 1.0,
) -> BayesianResult:
    """Beta-binomial comparison of two proportions by Monte Carlo with ``rng`` (see module docstring)."""
    where = "beta_binomial_test"
    check_probability(where, "alpha", alpha)
    check_positive(where, "prior_successes", prior_successes)
    check_positive(where, "prior_failures", prior_failures)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise ValidationError(f"{where}: draws must be a whole number of at least 2, got {draws!r}")
    if a.n < 1 or b.n < 1:
        return BayesianResult.unavailable(Status.INSUFFICIENT_DATA, method="beta_binomial", relative=relative)
    pa = rng.beta(a.successes + prior_successes, a.failures + prior_failures, size=draws)
    pb = rng.beta(b.successes + prior_successes, b.failures + prior_failures, size=draws)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # checked just below
        delta = lift(pa, pb, relative=relative)
    if not np.all(np.isfinite(delta)):  # a relative lift over a control draw of (nearly) 0
        return BayesianResult.unavailable(Status.NOT_FINITE, method="beta_binomial", relative=relative)
    low, high = (float(q) for q in np.quantile(delta, [alpha / 2.0, 1.0 - alpha / 2.0]))
    return BayesianResult(
        Status.OK,
        "beta_binomial",
        relative,
        float(np.mean(delta)),
        float(np.std(delta, ddof=1)),
        low,
        high,
        float(np.mean(delta > 0)),
        float(np.mean(np.maximum(delta, 0.0))),
        float(np.mean(np.maximum(-delta, 0.0))),
    )
