"""Always-valid (sequential) inference: results that stay valid however often they are looked at.

A fixed-horizon test checked after every batch of data rejects a true null far more often than ``alpha``
(≈ 37 % at 100 looks for ``alpha = 0.05``; Armitage, McPherson & Rowe 1969). The two procedures here
bound the probability that the null is *ever* rejected, at any look, by ``alpha``.

**Confidence sequences** (the default; Waudby-Smith, Arnold, Wu, Howard & Ramdas, "Time-uniform central
limit theory and asymptotic confidence sequences", arXiv:2103.06476v7, 2023), exactly as GrowthBook's
gbstats 0.8.0 ``SequentialTwoSidedTTest``. With ``N = na + nb`` units in total, ``V`` the variance of the
lift estimate (``ratio.py``) and ``s² = N · V``::

    ρ = sqrt((−2 ln α + ln(−2 ln α + 1)) / N*)                                     (eq. 161)
    half width = s · sqrt(2 (N ρ² + 1) / (N ρ)² · ln(sqrt(N ρ² + 1) / α))           (eq. 9)
    p = min(1, 1 / E),  E = exp(ρ² N L̂² / V / (2 (N ρ² + 1))) / sqrt(N ρ² + 1)       (eq. 155)

``N*`` (``tuning``, gbstats' ``sequential_tuning_parameter``, default 5000) is the total sample size at
which the sequence is tightest; the interval excludes 0 exactly when ``p < α``.

**mSPRT** (Robbins 1970; Johari, Koomen, Pekelis & Walsh, "Always valid inference: continuous monitoring
of A/B tests", Operations Research 2022, §4; the test behind Optimizely and Statsig). A normal mixture
``θ ~ N(θ0, τ²)`` over the lift gives the likelihood ratio against ``θ = θ0``::

    Λ = sqrt(V / (V + τ²)) · exp(τ² (L̂ − θ0)² / (2 V (V + τ²)))
    p = min(1, 1 / Λ);  interval L̂ ± sqrt(V (V + τ²) / τ² · (ln((V + τ²) / V) − 2 ln α))

``τ²`` is in the squared units of the lift (absolute, or relative when ``relative``). The two procedures
are one family: with ``τ² = ρ² · N · V`` the mSPRT equals the confidence sequence. The confidence sequence
scales its mixture with the observed variance (so one default fits every metric); the mSPRT keeps ``τ²``
fixed, which is what its exact (non-asymptotic) guarantee for normal data assumes.

Both use plug-in variances and are valid asymptotically. The p-value returned is the one at this look;
the always-valid p-value of a running experiment is the minimum over its looks so far, which the caller
keeps (these functions hold no state). ``cs_*`` and ``msprt_*`` accept arrays for simulations.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from promptevolve.stats.checks import check_finite, check_positive, check_probability
from promptevolve.stats.ratio import FloatOrArray
from promptevolve.stats.result import LiftResult, Status, checked_lift
from promptevolve.stats.sufficient import ArmStats

__all__ = [
    "DEFAULT_TUNING",
    "confidence_sequence_test",
    "cs_half_width",
    "cs_p_value",
    "msprt_half_width",
    "msprt_p_value",
    "msprt_test",
    "sequential_rho",
]

#: gbstats' default ``sequential_tuning_parameter``: total units at which the sequence is tightest.
DEFAULT_TUNING = 5000.0


def sequential_rho(alpha: float, tuning: float = DEFAULT_TUNING) -> float:
    """The mixture parameter ρ that makes the confidence sequence tightest at ``tuning`` units."""
    check_probability("sequential_rho", "alpha", alpha)
    check_positive("sequential_rho", "tuning", tuning)
    log_alpha = -2.0 * math.log(alpha)
    return math.sqrt((log_alpha + math.log(log_alpha + 1.0)) / tuning)


def cs_half_width(
    variance: ArrayLike, n_total: ArrayLike, *, alpha: float = 0.05, tuning: float = DEFAULT_TUNING
) -> FloatOrArray:
    """Half width of the confidence sequence for an estimate of ``variance`` after ``n_total`` units."""
    n = np.asarray(n_total, dtype=float)
    rho2 = sequential_rho(alpha, tuning) ** 2
    s2 = np.asarray(variance, dtype=float) * n
    tr2p1 = n * rho2 + 1.0
    return np.sqrt(s2 * 2.0 * tr2p1 * np.log(np.sqrt(tr2p1) / alpha) / (n * n * rho2))


def cs_p_value(
    estimate: ArrayLike,
    variance: ArrayLike,
    n_total: ArrayLike,
    *,
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
) -> FloatOrArray:
    """Sequential p-value at this look, ``min(1, 1/E)`` with the e-value of eq. 155 (computed in logs)."""
    n = np.asarray(n_total, dtype=float)
    rho2 = sequential_rho(alpha, tuning) ** 2
    st2 = np.asarray(estimate, dtype=float) ** 2 * n / np.asarray(variance, dtype=float)
    tr2p1 = n * rho2 + 1.0
    log_e = rho2 * st2 / (2.0 * tr2p1) - 0.5 * np.log(tr2p1)
    return np.exp(-np.maximum(log_e, 0.0))


def msprt_half_width(variance: ArrayLike, *, tau_sq: float, alpha: float = 0.05) -> FloatOrArray:
    """Half width of the always-valid mSPRT interval for an estimate of ``variance``."""
    check_probability("msprt_half_width", "alpha", alpha)
    check_positive("msprt_half_width", "tau_sq", tau_sq)
    v = np.asarray(variance, dtype=float)
    total = v + tau_sq
    return np.sqrt(v * total / tau_sq * (np.log(total / v) - 2.0 * math.log(alpha)))


def msprt_p_value(
    estimate: ArrayLike, variance: ArrayLike, *, tau_sq: float, null: float = 0.0
) -> FloatOrArray:
    """mSPRT p-value at this look, ``min(1, 1/Λ)`` (computed in logs)."""
    check_positive("msprt_p_value", "tau_sq", tau_sq)
    check_finite("msprt_p_value", "null", null)
    v = np.asarray(variance, dtype=float)
    total = v + tau_sq
    dev2 = (np.asarray(estimate, dtype=float) - null) ** 2
    log_lr = 0.5 * np.log(v / total) + tau_sq * dev2 / (2.0 * v * total)
    return np.exp(-np.maximum(log_lr, 0.0))


def confidence_sequence_test(
    a: ArmStats,
    b: ArmStats,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    tuning: float = DEFAULT_TUNING,
) -> LiftResult:
    """The default always-valid test: gbstats' asymptotic confidence sequence, two-sided."""
    sequential_rho(alpha, tuning)  # checks alpha and tuning before any data is looked at
    est = checked_lift(a, b, relative=relative)
    if isinstance(est, Status):
        return LiftResult.unavailable(est, method="confidence_sequence", relative=relative)
    n_total = a.n + b.n
    with np.errstate(over="ignore"):  # an overflow gives inf, which ``LiftResult.computed`` refuses
        half = float(cs_half_width(est.variance, n_total, alpha=alpha, tuning=tuning))
        p = float(cs_p_value(est.estimate, est.variance, n_total, alpha=alpha, tuning=tuning))
    return _result("confidence_sequence", relative, est.estimate, est.variance, half, p)


def msprt_test(
    a: ArmStats, b: ArmStats, *, tau_sq: float, alpha: float = 0.05, relative: bool = False
) -> LiftResult:
    """Mixture SPRT with a normal mixture of variance ``tau_sq`` (in the lift's squared units)."""
    check_probability("msprt_test", "alpha", alpha)
    check_positive("msprt_test", "tau_sq", tau_sq)
    est = checked_lift(a, b, relative=relative)
    if isinstance(est, Status):
        return LiftResult.unavailable(est, method="msprt", relative=relative)
    with np.errstate(over="ignore"):  # as above
        half = float(msprt_half_width(est.variance, tau_sq=tau_sq, alpha=alpha))
        p = float(msprt_p_value(est.estimate, est.variance, tau_sq=tau_sq))
    return _result("msprt", relative, est.estimate, est.variance, half, p)


def _result(
    method: str, relative: bool, estimate: float, variance: float, half: float, p: float
) -> LiftResult:
    return LiftResult.computed(
        method, relative, estimate, math.sqrt(variance), estimate - half, estimate + half, p
    )
