"""Sample-ratio mismatch: do the arms hold the shares of units the router was told to give them?

A mismatch means units are lost or misrouted unevenly (a crash in one variant, a redirect, a bot filter),
and then every comparison between the arms is biased, however significant. A mismatch at
``p < 0.001`` (``SRM_THRESHOLD``) therefore blocks any decision (DESIGN.md, decision 2).

Pearson's χ² goodness-of-fit test (as gbstats 0.8.0 ``check_srm``; Fabijan et al., "Diagnosing Sample
Ratio Mismatch in Online Controlled Experiments", KDD 2019)::

    E_i = w_i / Σw · Σo,    χ² = Σ (o_i − E_i)² / E_i,    p = P(χ²_{k−1} > χ²)

over the ``k`` arms with a positive expected share. Two choices differ from gbstats: an arm with an
expected share of 0 that received units is a certain mismatch (``p = 0``) where gbstats ignores it, and
the degrees of freedom count only arms with a positive share (gbstats counts all arms). With no units at
all the result has ``Status.INSUFFICIENT_DATA`` and ``p = 1``. Counts that no routing can produce (NaN,
infinite, negative or fractional) and shares that are NaN, infinite or negative, or all 0, raise
``ValidationError`` (``checks.py``): before this check, a NaN count gave ``p = nan``, which never blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from promptevolve.core.errors import ValidationError
from promptevolve.stats.checks import check_count, check_finite
from promptevolve.stats.result import Status

__all__ = ["SRM_THRESHOLD", "SrmResult", "srm_blocks", "srm_test"]

#: The p-value under which a sample-ratio mismatch blocks a decision.
SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    """The χ² statistic, its degrees of freedom and p-value for observed counts against shares."""

    status: Status
    statistic: float
    df: int
    p_value: float

    @property
    def blocks(self) -> bool:
        """True when the mismatch is significant at ``SRM_THRESHOLD``."""
        return srm_blocks(self.p_value)


def srm_blocks(p_value: float, threshold: float = SRM_THRESHOLD) -> bool:
    """Whether a sample-ratio mismatch p-value blocks decisions (``p < threshold``)."""
    return p_value < threshold


def srm_test(counts: Sequence[float], expected_shares: Sequence[float]) -> SrmResult:
    """χ² test of observed unit ``counts`` per arm against ``expected_shares`` (any positive scale)."""
    observed = np.asarray(counts, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    if observed.shape != shares.shape or observed.ndim != 1:
        raise ValidationError(f"srm_test: {observed.size} counts but {shares.size} expected shares")
    for i, count in enumerate(observed):
        check_count("srm_test", f"counts[{i}]", float(count))
    for i, share in enumerate(shares):
        if check_finite("srm_test", f"expected_shares[{i}]", float(share)) < 0:
            raise ValidationError(f"srm_test: expected_shares[{i}] must be at least 0, got {float(share)!r}")
    if shares.sum() <= 0:
        raise ValidationError("srm_test: at least one expected share must be above 0")
    live = shares > 0
    total = observed.sum()
    df = int(live.sum()) - 1
    if total <= 0 or df < 1:
        return SrmResult(Status.INSUFFICIENT_DATA, math.nan, max(df, 0), 1.0)
    # A share so small that its expected count underflows to 0 (a subnormal float) is a share of 0:
    # dividing by it would answer NaN instead of a p-value.
    expected_all = np.where(live, shares / shares[live].sum() * total, 0.0)
    live = expected_all > 0
    df = int(live.sum()) - 1
    if np.any(observed[~live] > 0):
        return SrmResult(Status.OK, math.inf, max(df, 0), 0.0)
    if df < 1:
        return SrmResult(Status.INSUFFICIENT_DATA, math.nan, max(df, 0), 1.0)
    expected = expected_all[live]
    with np.errstate(over="ignore"):  # a share near 0 with units in it: χ² = inf, p = 0, a mismatch
        statistic = float(np.sum((observed[live] - expected) ** 2 / expected))
    return SrmResult(Status.OK, statistic, df, float(sps.chi2.sf(statistic, df)))
