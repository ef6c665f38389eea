"""Ratio estimators and the delta method: ratio metrics and relative lift.

Two ratios appear in an experiment and both get their variance from the first-order delta method
(Casella & Berger, *Statistical Inference*, 2nd ed., §5.5.4; Deng, Knoblich & Lu, "Applying the Delta
Method in Metric Analytics", KDD 2018, eq. 2):

1. A **ratio metric** within one arm, ``R = X̄ / Ȳ`` (cost per token: ``x`` = cost, ``y`` = tokens, per
   execution). With per-unit means ``μx, μy``, variances ``σx², σy²`` and covariance ``σxy``::

       n · Var(R) ≈ σx² / μy² − 2 μx σxy / μy³ + μx² σy² / μy⁴          (ratio_variance)

   gbstats' ``RatioStatistic.variance`` uses the same expression.

2. The **relative lift** between arms, ``L = μb / μa − 1``. The arms are independent, so the covariance
   term drops and, with ``Va = σa² / na``, ``Vb = σb² / nb``::

       Var(L) ≈ Vb / μa² + μb² Va / μa⁴                                  (lift_variance, relative)

   which is gbstats' ``frequentist_variance(..., relative=True)``. The absolute lift ``μb − μa`` has the
   exact ``Va + Vb``.

The functions accept NumPy arrays as well as floats, so the benchmark can evaluate a test at every look
of thousands of simulated paths at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from promptevolve.stats.sufficient import ArmStats

__all__ = ["LiftEstimate", "estimate_lift", "lift", "lift_variance", "ratio_variance"]

FloatOrArray = float | NDArray[np.float64]


def ratio_variance(
    mean_x: ArrayLike, var_x: ArrayLike, mean_y: ArrayLike, var_y: ArrayLike, cov_xy: ArrayLike
) -> FloatOrArray:
    """Per-unit delta-method variance of ``mean_x / mean_y`` (divide by ``n`` for the squared SE)."""
    mx, vx, my, vy, cxy = (np.asarray(v, dtype=float) for v in (mean_x, var_x, mean_y, var_y, cov_xy))
    return vx / my**2 - 2.0 * mx * cxy / my**3 + mx**2 * vy / my**4


def lift(mean_a: ArrayLike, mean_b: ArrayLike, *, relative: bool) -> FloatOrArray:
    """Treatment ``b`` minus control ``a``; divided by ``mean_a`` when ``relative``."""
    ma, mb = np.asarray(mean_a, dtype=float), np.asarray(mean_b, dtype=float)
    return (mb - ma) / ma if relative else mb - ma


def lift_variance(
    mean_a: ArrayLike,
    var_a: ArrayLike,
    n_a: ArrayLike,
    mean_b: ArrayLike,
    var_b: ArrayLike,
    n_b: ArrayLike,
    *,
    relative: bool,
) -> FloatOrArray:
    """Variance of the lift estimate from per-unit variances (delta method when ``relative``)."""
    ma, mb = np.asarray(mean_a, dtype=float), np.asarray(mean_b, dtype=float)
    va = np.asarray(var_a, dtype=float) / np.asarray(n_a, dtype=float)
    vb = np.asarray(var_b, dtype=float) / np.asarray(n_b, dtype=float)
    if relative:
        return vb / ma**2 + mb**2 * va / ma**4
    return va + vb


@dataclass(frozen=True)
class LiftEstimate:
    """A lift with the variance of its estimate; what every test starts from."""

    estimate: float
    variance: float
    relative: bool


def estimate_lift(a: ArmStats, b: ArmStats, *, relative: bool) -> LiftEstimate:
    """Lift of ``b`` over ``a`` and its variance; the caller checks the data first (see ``result.py``)."""
    value = lift(a.mean, b.mean, relative=relative)
    variance = lift_variance(a.mean, a.variance, a.n, b.mean, b.variance, b.n, relative=relative)
    return LiftEstimate(float(value), float(variance), relative)
