"""Power analysis for two arms, two-sided: units per arm for a minimum detectable effect, and power at n.

For an absolute effect ``δ`` (a relative MDE is ``δ = mde · baseline``), a level ``α`` and a power
``1 − β``, the normal-approximation sample size per arm (e.g. Chow, Shao & Wang, *Sample Size
Calculations in Clinical Research*, 2nd ed., §4.2 and §4.3) is::

    n = ((z_{1−α/2} · s0 + z_{1−β} · s1) / δ)²,  rounded up

where ``s1² = σa² + σb²`` is the per-unit variance of the difference under the alternative and ``s0``
the same under the null. For means ``s0 = s1`` (treatment variance equal to the baseline's unless
given). For proportions there are two conventions:

- **unpooled** (the default): ``s0² = s1² = pa (1 − pa) + pb (1 − pb)``. This is the figure our issue
  quotes: 0.70 → 0.75, α = 0.05, power 0.8 gives ``7.849 · 0.3975 / 0.05² = 1247.97``, so **1,248 per
  arm**; it matches the unpooled Wald z-test and the sequential tests' variance.
- **pooled** (Fleiss, *Statistical Methods for Rates and Proportions*, without continuity correction):
  ``s0² = 2 p̄ (1 − p̄)`` with ``p̄ = (pa + pb) / 2``, matching the pooled z-test; it gives 1,251 here.

Power at ``n`` per arm counts both rejection tails: ``Φ((|δ| − z s0/√n) / (s1/√n)) +
Φ((−|δ| − z s0/√n) / (s1/√n))``, so it is at least the target at the sample size above. These formulas
are for a fixed-horizon test; an always-valid test needs more units for the same power (see
``bench/stats_sim.py``). Invalid arguments raise ``ValidationError``.
"""

from __future__ import annotations

import math

from scipy import stats as sps

from promptevolve.core.errors import ValidationError
from promptevolve.stats.checks import check_positive, check_probability

__all__ = [
    "power_at_n",
    "proportion_power_at_n",
    "proportion_sample_size",
    "sample_size_per_arm",
]


def _check_levels(alpha: float, power: float = 0.5) -> None:
    check_probability("power analysis", "alpha", alpha)
    check_probability("power analysis", "power", power)


def _effect(baseline: float, mde: float, relative: bool) -> float:
    delta = mde * baseline if relative else mde
    if delta == 0 or not math.isfinite(delta):
        raise ValidationError(f"the minimum detectable effect must be finite and non-zero, got {delta}")
    return delta


def _proportion_sds(baseline: float, delta: float, pooled: bool) -> tuple[float, float]:
    treated = baseline + delta
    if not (0 < baseline < 1 and 0 < treated < 1):
        raise ValidationError(f"proportions must lie in (0, 1): baseline {baseline}, treatment {treated}")
    s1 = math.sqrt(baseline * (1 - baseline) + treated * (1 - treated))
    mid = (baseline + treated) / 2
    return (math.sqrt(2 * mid * (1 - mid)) if pooled else s1), s1


def _mean_sds(baseline_variance: float, treatment_variance: float | None) -> tuple[float, float]:
    other = baseline_variance if treatment_variance is None else treatment_variance
    check_positive("power analysis", "baseline_variance", baseline_variance)
    check_positive("power analysis", "treatment_variance", other)
    s = math.sqrt(baseline_variance + other)
    return s, s


def _n(delta: float, s0: float, s1: float, alpha: float, power: float) -> int:
    _check_levels(alpha, power)
    z_alpha, z_beta = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    return math.ceil(((z_alpha * s0 + z_beta * s1) / abs(delta)) ** 2 - 1e-9)


def _power(n: float, delta: float, s0: float, s1: float, alpha: float) -> float:
    _check_levels(alpha)
    check_positive("power analysis", "n_per_arm", n)
    crit = sps.norm.ppf(1 - alpha / 2) * s0 / math.sqrt(n)
    se1 = s1 / math.sqrt(n)
    return float(sps.norm.cdf((abs(delta) - crit) / se1) + sps.norm.cdf((-abs(delta) - crit) / se1))


def sample_size_per_arm(
    *,
    baseline_mean: float,
    baseline_variance: float,
    mde: float,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_variance: float | None = None,
) -> int:
    """Units per arm to detect ``mde`` on a numeric metric (per-unit variances) with ``power``."""
    s0, s1 = _mean_sds(baseline_variance, treatment_variance)
    return _n(_effect(baseline_mean, mde, relative), s0, s1, alpha, power)


def power_at_n(
    *,
    n_per_arm: float,
    baseline_mean: float,
    baseline_variance: float,
    mde: float,
    relative: bool = False,
    alpha: float = 0.05,
    treatment_variance: float | None = None,
) -> float:
    """Power of the two-sided test with ``n_per_arm`` units per arm on a numeric metric."""
    s0, s1 = _mean_sds(baseline_variance, treatment_variance)
    return _power(n_per_arm, _effect(baseline_mean, mde, relative), s0, s1, alpha)


def proportion_sample_size(
    *,
    baseline: float,
    mde: float,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    pooled: bool = False,
) -> int:
    """Units per arm to detect a change of a proportion from ``baseline`` by ``mde``."""
    delta = _effect(baseline, mde, relative)
    s0, s1 = _proportion_sds(baseline, delta, pooled)
    return _n(delta, s0, s1, alpha, power)


def proportion_power_at_n(
    *,
    n_per_arm: float,
    baseline: float,
    mde: float,
    relative: bool = False,
    alpha: float = 0.05,
    pooled: bool = False,
) -> float:
    """Power of the two-sided two-proportion test with ``n_per_arm`` units per arm."""
    delta = _effect(baseline, mde, relative)
    s0, s1 = _proportion_sds(baseline, delta, pooled)
    return _power(n_per_arm, delta, s0, s1, alpha)
