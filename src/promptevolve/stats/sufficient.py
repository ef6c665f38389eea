"""Frozen, additive sufficient statistics: what the store's SQL hands to the statistics.

Every procedure in ``promptevolve.stats`` works on a few sums per arm, never on raw rows, so an analysis
costs the same for a thousand executions or ten million. The store builds them with one query::

    SELECT arm, COUNT(*), SUM(y), SUM(y * y) FROM scores ... GROUP BY arm

The objects are frozen dataclasses and add up (``a + b`` pools two disjoint samples), so per-day or
per-shard sums can be combined without touching the rows again. Design and conventions follow GrowthBook's
gbstats 0.8.0 (``gbstats/models/statistics.py``):

- ``SampleStats``: ``mean = Σy / n``; ``variance`` is the unbiased sample variance
  ``(Σy² − (Σy)² / n) / (n − 1)``, 0 when ``n <= 1`` (and clamped at 0 against rounding).
- ``ProportionStats``: Bernoulli data; ``variance = p (1 − p)``, the plug-in (biased) Bernoulli variance
  that gbstats' ``ProportionStatistic`` uses, so results match it.
- ``RatioStats``: a ratio metric ``Σx / Σy`` over units (e.g. cost per token, where each unit is one
  execution with cost ``x`` and tokens ``y``). Its per-unit ``variance`` comes from the delta method (see
  ``ratio.py``), so a ratio metric flows through every test exactly like a mean.

All three satisfy the ``ArmStats`` protocol (``n``, ``mean``, ``variance``), which is all the tests need.
An empty arm has ``mean == 0``; the tests report ``Status.INSUFFICIENT_DATA`` for it rather than raising.

Each object refuses, when it is made, sums that no data can produce (``checks.py``): ``n`` not a whole
number of at least 0, a NaN or infinite sum, a negative sum of squares or one below ``(Σy)² / n``
(Cauchy–Schwarz, with a relative tolerance of 1e-6 for the rounding of long float sums), successes
below 0 or above ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from promptevolve.core.errors import ValidationError
from promptevolve.stats.checks import check_count, check_finite
from promptevolve.stats.ratio import ratio_variance

__all__ = ["ArmStats", "ProportionStats", "RatioStats", "SampleStats"]


class ArmStats(Protocol):
    """What every test reads from an arm: units, the mean and the per-unit variance."""

    @property
    def n(self) -> int: ...

    @property
    def mean(self) -> float: ...

    @property
    def variance(self) -> float: ...


def _check_sums(where: str, n: float, total: float, total_sq: float, names: tuple[str, str]) -> None:
    """A sum and sum of squares that ``n`` real values can have (see the module docstring)."""
    check_count(where, "n", n)
    check_finite(where, names[0], total)
    check_finite(where, names[1], total_sq)
    if total_sq < 0 or total * total > n * total_sq * (1 + 1e-6) + 1e-12:
        raise ValidationError(
            f"{where}: no {n:g} real values have {names[0]}={total!r} and {names[1]}={total_sq!r} "
            f"({names[1]} must be at least {names[0]}² / n)"
        )


def _sample_variance(n: int, total: float, total_sq: float) -> float:
    if n <= 1:
        return 0.0
    return max((total_sq - total * total / n) / (n - 1), 0.0)


@dataclass(frozen=True)
class SampleStats:
    """Count, sum and sum of squares of a numeric metric (latency, score, cost)."""

    n: int
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        _check_sums("SampleStats", self.n, self.total, self.total_sq, ("total", "total_sq"))

    @classmethod
    def from_values(cls, values: ArrayLike) -> SampleStats:
        y = np.asarray(values, dtype=float).ravel()
        return cls(n=int(y.size), total=float(y.sum()), total_sq=float(np.dot(y, y)))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        return _sample_variance(self.n, self.total, self.total_sq)

    def __add__(self, other: SampleStats) -> SampleStats:
        return SampleStats(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq)


@dataclass(frozen=True)
class ProportionStats:
    """Units and successes of a 0/1 metric (thumbs up, task solved, JSON valid)."""

    n: int
    successes: float

    def __post_init__(self) -> None:
        check_count("ProportionStats", "n", self.n)
        successes = check_finite("ProportionStats", "successes", self.successes)
        if not 0 <= successes <= self.n:
            raise ValidationError(
                f"ProportionStats: successes must lie between 0 and n={self.n}, got {self.successes!r}"
            )

    @classmethod
    def from_values(cls, values: ArrayLike) -> ProportionStats:
        y = np.asarray(values, dtype=float).ravel()
        return cls(n=int(y.size), successes=float(y.sum()))

    @property
    def failures(self) -> float:
        return self.n - self.successes

    @property
    def total(self) -> float:
        return self.successes

    @property
    def total_sq(self) -> float:
        return self.successes

    @property
    def mean(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        p = self.mean
        return p * (1.0 - p)

    def __add__(self, other: ProportionStats) -> ProportionStats:
        return ProportionStats(self.n + other.n, self.successes + other.successes)


@dataclass(frozen=True)
class RatioStats:
    """Sums of a numerator ``x`` and a denominator ``y`` per unit, for the metric ``Σx / Σy``."""

    n: int
    sum_x: float
    sum_y: float
    sum_x2: float
    sum_y2: float
    sum_xy: float

    def __post_init__(self) -> None:
        _check_sums("RatioStats", self.n, self.sum_x, self.sum_x2, ("sum_x", "sum_x2"))
        _check_sums("RatioStats", self.n, self.sum_y, self.sum_y2, ("sum_y", "sum_y2"))
        check_finite("RatioStats", "sum_xy", self.sum_xy)

    @classmethod
    def from_values(cls, x: ArrayLike, y: ArrayLike) -> RatioStats:
        xs = np.asarray(x, dtype=float).ravel()
        ys = np.asarray(y, dtype=float).ravel()
        if xs.shape != ys.shape:
            raise ValidationError(
                f"RatioStats.from_values: numerator and denominator differ in length ({xs.size} != {ys.size})"
            )
        return cls(
            n=int(xs.size),
            sum_x=float(xs.sum()),
            sum_y=float(ys.sum()),
            sum_x2=float(np.dot(xs, xs)),
            sum_y2=float(np.dot(ys, ys)),
            sum_xy=float(np.dot(xs, ys)),
        )

    @property
    def numerator(self) -> SampleStats:
        return SampleStats(self.n, self.sum_x, self.sum_x2)

    @property
    def denominator(self) -> SampleStats:
        return SampleStats(self.n, self.sum_y, self.sum_y2)

    @property
    def covariance(self) -> float:
        """Unbiased sample covariance of ``x`` and ``y`` per unit."""
        if self.n <= 1:
            return 0.0
        return (self.sum_xy - self.sum_x * self.sum_y / self.n) / (self.n - 1)

    @property
    def mean(self) -> float:
        """The ratio ``Σx / Σy`` (0 when ``Σy == 0``)."""
        return self.sum_x / self.sum_y if self.sum_y else 0.0

    @property
    def variance(self) -> float:
        """Per-unit variance of the ratio by the delta method, so ``variance / n`` is its squared SE."""
        num, den = self.numerator, self.denominator
        if self.n <= 1 or den.mean == 0:
            return 0.0
        value = ratio_variance(num.mean, num.variance, den.mean, den.variance, self.covariance)
        return max(float(value), 0.0)

    def __add__(self, other: RatioStats) -> RatioStats:
        return RatioStats(
            self.n + other.n,
            self.sum_x + other.sum_x,
            self.sum_y + other.sum_y,
            self.sum_x2 + other.sum_x2,
            self.sum_y2 + other.sum_y2,
            self.sum_xy + other.sum_xy,
        )
