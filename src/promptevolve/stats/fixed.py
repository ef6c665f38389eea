"""Fixed-horizon frequentist tests: Welch's t-test and the two-proportion z-test.

Valid when the sample size is fixed in advance and the data are looked at once; for an experiment
watched on a dashboard use ``sequential.py``. Both tests compare treatment ``b`` with control ``a`` and
return a ``LiftResult`` for the absolute lift ``μb − μa`` or the relative lift ``μb / μa − 1``.

**Welch's t-test** (Welch 1947; as gbstats' ``TwoSidedTTest``). With ``Va = sa² / na`` and
``Vb = sb² / nb``, the Welch–Satterthwaite degrees of freedom are::

    ν = (Va + Vb)² / (Va² / (na − 1) + Vb² / (nb − 1))

the statistic is ``t = L̂ / SE`` and the two-sided p-value ``2 · P(T_ν > |t|)``; the interval is
``L̂ ± t_{ν, 1−α/2} · SE``. For the relative lift, ``SE`` comes from the delta method (``ratio.py``) and
``ν`` stays the one computed from the absolute variances, as gbstats does. On raw arrays the absolute
version equals ``scipy.stats.ttest_ind(b, a, equal_var=False)``.

**Two-proportion z-test** (e.g. Agresti, *Categorical Data Analysis*, 3rd ed., §3.1). The p-value tests
``pa = pb`` with the pooled variance ``p̄ (1 − p̄) (1/na + 1/nb)`` (so ``z²`` equals Pearson's χ² on the
2×2 table without continuity correction); the interval uses the unpooled (Wald) standard error,
``pa (1 − pa) / na + pb (1 − pb) / nb``, or its delta-method form when ``relative``. Near the decision
boundary the pooled p-value and the unpooled interval can disagree slightly; that is the textbook
convention, kept on purpose.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from promptevolve.stats.checks import check_probability
from promptevolve.stats.ratio import FloatOrArray
from promptevolve.stats.result import LiftResult, Status, checked_lift
from promptevolve.stats.sufficient import ArmStats, ProportionStats

__all__ = ["two_proportion_z_test", "welch_df", "welch_test"]


def welch_df(var_a: ArrayLike, n_a: ArrayLike, var_b: ArrayLike, n_b: ArrayLike) -> FloatOrArray:
    """Welch–Satterthwaite degrees of freedom from per-unit variances and sizes (arrays allowed)."""
    na, nb = np.asarray(n_a, dtype=float), np.asarray(n_b, dtype=float)
    va, vb = np.asarray(var_a, dtype=float) / na, np.asarray(var_b, dtype=float) / nb
    return (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))


def welch_test(a: ArmStats, b: ArmStats, *, alpha: float = 0.05, relative: bool = False) -> LiftResult:
    """Welch's unequal-variance t-test of ``b`` against ``a``, two-sided."""
    check_probability("welch_test", "alpha", alpha)
    est = checked_lift(a, b, relative=relative)
    if isinstance(est, Status):
        return LiftResult.unavailable(est, method="welch", relative=relative)
    se = math.sqrt(est.variance)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # LiftResult.computed checks
        df = float(welch_df(a.variance, a.n, b.variance, b.n))
    t = est.estimate / se
    half = float(sps.t.ppf(1.0 - alpha / 2.0, df)) * se
    p = float(2.0 * sps.t.sf(abs(t), df))
    low, high = est.estimate - half, est.estimate + half
    return LiftResult.computed("welch", relative, est.estimate, se, low, high, p, t, df)


def _pooled_se(a: ProportionStats, b: ProportionStats) -> float:
    pooled = (a.successes + b.successes) / (a.n + b.n)
    return math.sqrt(pooled * (1.0 - pooled) * (1.0 / a.n + 1.0 / b.n))


def two_proportion_z_test(
    a: ProportionStats, b: ProportionStats, *, alpha: float = 0.05, relative: bool = False
) -> LiftResult:
    """Two-proportion z-test: pooled-variance p-value, unpooled (Wald or delta-method) interval."""
    check_probability("two_proportion_z_test", "alpha", alpha)
    est = checked_lift(a, b, relative=relative)
    if isinstance(est, Status):
        return LiftResult.unavailable(est, method="z_proportions", relative=relative)
    se = math.sqrt(est.variance)
    z = (b.mean - a.mean) / _pooled_se(a, b)
    half = float(sps.norm.ppf(1.0 - alpha / 2.0)) * se
    p = float(2.0 * sps.norm.sf(abs(z)))
    low, high = est.estimate - half, est.estimate + half
    return LiftResult.computed("z_proportions", relative, est.estimate, se, low, high, p, z)
