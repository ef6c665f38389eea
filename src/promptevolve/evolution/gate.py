"""The held-out gate: a candidate passes only if its improvement over the parent on the test split has
a paired bootstrap interval entirely above zero.

Both prompts answer the same test items, so the comparison is paired: resampling items (not prompts)
with replacement, the interval of the mean per-item difference accounts for how hard each item is.
Percentile intervals from ``resamples`` draws of a NumPy generator seeded by the run: the same seed
gives the same interval. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from promptevolve.core.errors import ValidationError

__all__ = ["GateResult", "Interval", "bootstrap_mean", "gate"]


@dataclass(frozen=True, slots=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True, slots=True)
class GateResult:
    passed: bool
    parent: Interval
    child: Interval
    improvement: Interval
    confidence: float
    reason: str


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_mean(
    values: Sequence[float], *, rng: np.random.Generator, confidence: float = 0.95, resamples: int = 2000
) -> Interval:
    """Mean of ``values`` with a percentile bootstrap interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValidationError("cannot bootstrap an empty sample")
    draws = rng.integers(0, data.size, size=(resamples, data.size))
    low, high = _percentiles(data[draws].mean(axis=1), confidence)
    return Interval(float(data.mean()), low, high, int(data.size))


def gate(
    parent_scores: Sequence[float],
    child_scores: Sequence[float],
    *,
    rng: np.random.Generator,
    confidence: float = 0.95,
    resamples: int = 2000,
) -> GateResult:
    """Paired comparison on the same items (in the same order): passes when the interval is above 0."""
    if len(parent_scores) != len(child_scores):
        raise ValidationError("the gate compares scores of the same items: the lengths differ")
    parent = np.asarray(parent_scores, dtype=float)
    child = np.asarray(child_scores, dtype=float)
    if parent.size < 2:
        raise ValidationError("the gate needs at least two test items")
    draws = rng.integers(0, parent.size, size=(resamples, parent.size))
    p_means, c_means = parent[draws].mean(axis=1), child[draws].mean(axis=1)
    diff_low, diff_high = _percentiles(c_means - p_means, confidence)
    improvement = Interval(float(child.mean() - parent.mean()), diff_low, diff_high, int(parent.size))
    passed = diff_low > 0.0
    level = f"{round(confidence * 100)} %"
    reason = (
        f"improvement {improvement.mean:+.3f} on {parent.size} test items, {level} interval "
        f"[{diff_low:+.3f}, {diff_high:+.3f}] " + ("is above zero" if passed else "includes or is below zero")
    )
    return GateResult(
        passed=passed,
        parent=Interval(float(parent.mean()), *_percentiles(p_means, confidence), int(parent.size)),
        child=Interval(float(child.mean()), *_percentiles(c_means, confidence), int(child.size)),
        improvement=improvement,
        confidence=confidence,
        reason=reason,
    )
