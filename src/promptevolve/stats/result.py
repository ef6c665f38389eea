"""Result types shared by the tests, and the one check of whether the data can be analysed.

Too little or degenerate data is a normal state of a young experiment, not an error: every test returns
a result whose ``status`` says so, as gbstats returns an ``error_message`` with a default output. A result
that is not ``Status.OK`` carries ``nan`` for the estimate, interval and standard error, and a p-value
of 1 (no evidence), so code that forgets to look at the status can never ship a change on it.

``check_arms`` decides the status (``checked_lift`` applies it before estimating), in this order:

- ``INSUFFICIENT_DATA``: an arm has fewer than 2 units (no variance can be estimated);
- ``ZERO_BASELINE``: a relative lift over a control mean of 0 (undefined);
- ``ZERO_VARIANCE``: the estimate has no spread (both arms constant, e.g. 0 % and 0 %);
- ``NOT_FINITE``: the estimate, its variance or the interval overflowed (sums near the float limits, a
  control mean so close to 0 that the relative lift is infinite). A result marked OK therefore always
  has a finite interval with ``ci_low <= ci_high`` and a p-value in [0, 1] (property-tested).

Input that no data can produce, and parameters outside their domain, raise instead (``checks.py``).

Unlike gbstats, one constant arm (an error rate of 0 % in control) does not block the analysis: the
other arm still carries information, and a guardrail must be able to see a new error appear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from promptevolve.stats.ratio import LiftEstimate, estimate_lift
from promptevolve.stats.sufficient import ArmStats

__all__ = ["LiftResult", "Status", "check_arms", "checked_lift", "usable"]


class Status(StrEnum):
    """Whether a result can be used, and if not, why."""

    OK = "ok"
    INSUFFICIENT_DATA = "insufficient_data"
    ZERO_BASELINE = "zero_baseline"
    ZERO_VARIANCE = "zero_variance"
    NOT_FINITE = "not_finite"


@dataclass(frozen=True)
class LiftResult:
    """A frequentist or sequential comparison of treatment ``b`` against control ``a``.

    ``estimate`` is ``mean_b − mean_a`` (or ``/ mean_a`` when ``relative``); ``[ci_low, ci_high]`` is a
    ``1 − alpha`` confidence interval (a confidence *sequence* for the sequential tests); ``statistic`` is
    the t or z value (``nan`` for the sequential tests) with ``df`` degrees of freedom (``inf`` for z).
    """

    status: Status
    method: str
    relative: bool
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float = math.nan
    df: float = math.inf

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @classmethod
    def unavailable(cls, status: Status, *, method: str, relative: bool) -> LiftResult:
        """The result to return when ``status`` is not OK."""
        nan = math.nan
        return cls(status, method, relative, nan, nan, nan, nan, 1.0, nan, nan)

    @classmethod
    def computed(
        cls,
        method: str,
        relative: bool,
        estimate: float,
        std_error: float,
        ci_low: float,
        ci_high: float,
        p_value: float,
        statistic: float = math.nan,
        df: float = math.inf,
    ) -> LiftResult:
        """An OK result, or ``NOT_FINITE`` when a figure overflowed (see the module docstring)."""
        if not usable(estimate, std_error, ci_low, ci_high) or not 0.0 <= p_value <= 1.0:
            return cls.unavailable(Status.NOT_FINITE, method=method, relative=relative)
        return cls(Status.OK, method, relative, estimate, std_error, ci_low, ci_high, p_value, statistic, df)


def usable(estimate: float, spread: float, low: float, high: float) -> bool:
    """Whether an estimate, its spread and its interval are finite and ordered."""
    return all(math.isfinite(x) for x in (estimate, spread, low, high)) and low <= high


def check_arms(a: ArmStats, b: ArmStats, *, relative: bool) -> Status:
    """The status of comparing ``b`` with ``a`` (see the module docstring)."""
    if a.n < 2 or b.n < 2:
        return Status.INSUFFICIENT_DATA
    if relative and a.mean == 0:
        return Status.ZERO_BASELINE
    if a.variance <= 0 and b.variance <= 0:
        return Status.ZERO_VARIANCE
    return Status.OK


def checked_lift(a: ArmStats, b: ArmStats, *, relative: bool) -> LiftEstimate | Status:
    """The lift of ``b`` over ``a`` with its variance, or the ``Status`` that prevents computing it."""
    status = check_arms(a, b, relative=relative)
    if status is not Status.OK:
        return status
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # overflow is checked below
        estimate = estimate_lift(a, b, relative=relative)
    if not (math.isfinite(estimate.estimate) and math.isfinite(estimate.variance)):
        return Status.NOT_FINITE
    if not estimate.variance > 0:  # e.g. a relative lift of 0 % over a constant control
        return Status.ZERO_VARIANCE
    return estimate
