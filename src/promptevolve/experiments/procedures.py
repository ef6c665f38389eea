"""One comparison of a treatment arm with the control under the experiment's procedure (pure).

The four procedures wrap ``promptevolve.stats``:

==============  ================================================  ==============================
procedure       test                                              valid when looked at …
==============  ================================================  ==============================
``sequential``  gbstats' asymptotic confidence sequence (default) at every look (always valid)
``msprt``       mixture SPRT, mixture variance ``tau_sq``         at every look (always valid)
``fixed``       Welch's t-test                                    once, at the planned sample size
``bayesian``    normal posterior of the lift (flat prior)         any time, as a report of belief
==============  ================================================  ==============================

``directional_p`` is what the decision rule reads: the p-value of the null "lift = ``null``" that counts
only when the estimate lies on ``side`` of it (otherwise 1), so a significant result also has the right
sign. The sequential procedures give two-sided p-values (the conservative reading). For the Bayesian
procedure it is the posterior probability of the other side, ``P(δ <= null)`` for ``side = +1``, so
"p < alpha" reads "chance to win above 1 − alpha". Shifting the null is how guardrails test "worse by
more than the tolerance". The sequential p-value is per look: callers keep its running minimum
(``decide.Tracker``), which is the always-valid p-value of the experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from scipy import stats as sps

from promptevolve.stats import (
    DEFAULT_TUNING,
    ArmStats,
    Status,
    bayesian_effect_test,
    confidence_sequence_test,
    cs_p_value,
    msprt_p_value,
    msprt_test,
    welch_test,
)

__all__ = ["ALWAYS_VALID", "Comparison", "Procedure", "TestSettings", "compare", "directional_p"]


class Procedure(StrEnum):
    SEQUENTIAL = "sequential"
    MSPRT = "msprt"
    FIXED = "fixed"
    BAYESIAN = "bayesian"


#: Procedures whose per-look p-values may be minimised over looks.
ALWAYS_VALID = frozenset({Procedure.SEQUENTIAL, Procedure.MSPRT})


@dataclass(frozen=True, slots=True)
class TestSettings:
    procedure: Procedure
    alpha: float
    relative: bool
    tuning: float = DEFAULT_TUNING
    tau_sq: float | None = None  # msprt only: mixture variance in the lift's squared units


@dataclass(frozen=True, slots=True)
class Comparison:
    """Treatment against control: lift estimate, its standard error, the ``1 − alpha`` interval, the
    p-value of "no lift" and, for the Bayesian procedure, the chance to win (else ``nan``)."""

    status: Status
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    chance_to_win: float
    n_total: int
    df: float = math.inf

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def compare(control: ArmStats, treatment: ArmStats, settings: TestSettings) -> Comparison:
    """The procedure's comparison; a ``Status`` other than OK when the data cannot be compared yet."""
    n_total = int(control.n + treatment.n)
    alpha, relative = settings.alpha, settings.relative
    if settings.procedure is Procedure.BAYESIAN:
        b = bayesian_effect_test(control, treatment, alpha=alpha, relative=relative)
        p = 2.0 * min(b.chance_to_win, 1.0 - b.chance_to_win) if b.ok else 1.0
        return Comparison(b.status, b.estimate, b.std_dev, b.ci_low, b.ci_high, p, b.chance_to_win, n_total)
    if settings.procedure is Procedure.SEQUENTIAL:
        r = confidence_sequence_test(
            control, treatment, alpha=alpha, relative=relative, tuning=settings.tuning
        )
    elif settings.procedure is Procedure.MSPRT:
        r = msprt_test(control, treatment, tau_sq=_tau_sq(settings), alpha=alpha, relative=relative)
    else:
        r = welch_test(control, treatment, alpha=alpha, relative=relative)
    return Comparison(
        r.status, r.estimate, r.std_error, r.ci_low, r.ci_high, r.p_value, math.nan, n_total, r.df
    )


def _tau_sq(settings: TestSettings) -> float:
    if settings.tau_sq is None or not settings.tau_sq > 0:
        raise ValueError("the msprt procedure needs a positive tau_sq")
    return settings.tau_sq


def directional_p(c: Comparison, settings: TestSettings, *, null: float = 0.0, side: int = 1) -> float:
    """p-value of "lift = null" counted only for an estimate on ``side`` (+1 above, −1 below) of it."""
    if not c.ok:
        return 1.0
    if settings.procedure is Procedure.BAYESIAN:
        return float(sps.norm.cdf(side * (null - c.estimate) / c.std_error))
    if side * (c.estimate - null) <= 0:
        return 1.0
    variance = c.std_error**2
    if settings.procedure is Procedure.SEQUENTIAL:
        p = cs_p_value(c.estimate - null, variance, c.n_total, alpha=settings.alpha, tuning=settings.tuning)
    elif settings.procedure is Procedure.MSPRT:
        p = msprt_p_value(c.estimate, variance, tau_sq=_tau_sq(settings), null=null)
    else:
        p = 2.0 * sps.t.sf(abs(c.estimate - null) / c.std_error, c.df)
    return float(p)
