"""Multiple-comparison adjustments: Holm (family-wise error) and Benjamini–Hochberg (false discovery).

An experiment with several treatment arms or several metrics makes several tests at once; reading each
at ``alpha`` inflates the chance of a false win. Both functions return **adjusted p-values in input
order**, to be compared with the unadjusted ``alpha``.

With ``m`` p-values sorted ``p(1) <= … <= p(m)``:

- **Holm** (Holm 1979, step-down): ``p̃(i) = max_{j<=i} min(1, (m − j + 1) · p(j))``. Controls the
  family-wise error rate under any dependence; uniformly more powerful than Bonferroni.
- **Benjamini–Hochberg** (Benjamini & Hochberg 1995, step-up):
  ``p̃(i) = min_{j>=i} min(1, m · p(j) / j)``. Controls the false discovery rate for independent or
  positively dependent tests; equals ``scipy.stats.false_discovery_control(p, method="bh")``.

Every adjusted p-value is at least its raw value, and BH never exceeds Holm.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from promptevolve.core.errors import ValidationError

__all__ = ["benjamini_hochberg", "holm"]


def _checked(p_values: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(p_values, dtype=float).ravel()
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValidationError("p-values must lie in [0, 1] (got nan or a value outside)")
    return p


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm step-down adjusted p-values, in input order."""
    p = _checked(p_values)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum((m - np.arange(m)) * p[order], 1.0)
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def benjamini_hochberg(p_values: ArrayLike) -> NDArray[np.float64]:
    """Benjamini–Hochberg step-up adjusted p-values, in input order."""
    p = _checked(p_values)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(m * p[order] / np.arange(1, m + 1), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return adjusted
