"""Thompson sampling for bandit experiments, as pure functions of the arms' posteriors and an rng.

A bandit sends more traffic to the arms that look better while it learns. Thompson sampling (Thompson
1933; Russo, Van Roy et al., "A Tutorial on Thompson Sampling", 2018) gives each arm the posterior
probability that it is the best one. The router needs *weights* (traffic shares it can map onto its
sticky buckets), so:

1. ``probability_best_*`` estimates ``P(arm i is best)`` by Monte Carlo: ``draws`` joint draws from the
   posteriors, counting how often each arm has the largest draw. The Monte Carlo standard error is at most
   ``0.5 / sqrt(draws)`` (0.005 at the default 10,000).
   - ``beta``: 0/1 rewards, ``Beta(successes + 1, failures + 1)`` per arm (uniform prior by default);
   - ``normal``: numeric rewards, ``N(mean, std_error²)`` per arm (flat prior, normal approximation;
     ``std_error`` is ``sqrt(variance / n)`` of ``promptevolve.stats.SampleStats``).
2. ``floor_weights`` keeps every arm at a share of at least ``floor`` (default 1 %) so a loser can still
   come back if the world changes and its estimate keeps improving. It mixes with the uniform share,
   ``w = floor + (1 − k · floor) · p``, which sums to 1, keeps the order of the arms and, unlike clipping
   then renormalising, really guarantees ``w ≥ floor``.
3. ``choose_arm`` picks one arm by its weight with the caller's rng (for non-sticky routing; sticky
   routing maps the weights onto buckets instead).

``thompson_draw`` is classic per-call Thompson sampling (one posterior draw per arm, take the largest);
it is equal in distribution to ``choose_arm`` on the unfloored probabilities. All functions accept leading
batch dimensions (arrays of shape ``(..., k)``), which the benchmark uses to run many bandits at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from promptevolve.core.errors import ValidationError

__all__ = [
    "DEFAULT_FLOOR",
    "choose_arm",
    "floor_weights",
    "probability_best_beta",
    "probability_best_normal",
    "thompson_draw",
    "thompson_weights_beta",
    "thompson_weights_normal",
]

#: Minimum traffic share kept by every arm.
DEFAULT_FLOOR = 0.01


def _counts(successes: ArrayLike, failures: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    s, f = np.asarray(successes, dtype=float), np.asarray(failures, dtype=float)
    if s.shape != f.shape or s.ndim < 1 or s.shape[-1] < 1:
        raise ValidationError(f"successes {s.shape} and failures {f.shape} must have the same shape (..., k)")
    if np.any(s < 0) or np.any(f < 0):
        raise ValidationError("successes and failures must be >= 0")
    return s, f


def _share_of_wins(samples: NDArray[np.float64]) -> NDArray[np.float64]:
    """``samples`` of shape ``(draws, ..., k)`` → fraction of draws each arm is largest, ``(..., k)``."""
    winners = np.argmax(samples, axis=-1)
    arms = np.arange(samples.shape[-1])
    return np.mean(winners[..., None] == arms, axis=0)


def probability_best_beta(
    successes: ArrayLike,
    failures: ArrayLike,
    *,
    rng: np.random.Generator,
    draws: int = 10_000,
    prior_successes: float = 1.0,
    prior_failures: float = 1.0,
) -> NDArray[np.float64]:
    """Monte Carlo ``P(arm is best)`` under independent Beta posteriors of 0/1 rewards."""
    s, f = _counts(successes, failures)
    samples = rng.beta(s + prior_successes, f + prior_failures, size=(draws, *s.shape))
    return _share_of_wins(samples)


def probability_best_normal(
    means: ArrayLike, std_errors: ArrayLike, *, rng: np.random.Generator, draws: int = 10_000
) -> NDArray[np.float64]:
    """Monte Carlo ``P(arm is best)`` under independent normal posteriors ``N(mean, std_error²)``."""
    m, se = np.asarray(means, dtype=float), np.asarray(std_errors, dtype=float)
    if m.shape != se.shape or m.ndim < 1 or np.any(se < 0):
        raise ValidationError("means and std_errors must have the same shape (..., k), std_errors >= 0")
    samples = m + se * rng.standard_normal(size=(draws, *m.shape))
    return _share_of_wins(samples)


def floor_weights(probabilities: ArrayLike, floor: float = DEFAULT_FLOOR) -> NDArray[np.float64]:
    """Mix ``probabilities`` (summing to 1 over the last axis) with uniform so each is ``>= floor``."""
    p = np.asarray(probabilities, dtype=float)
    k = p.shape[-1]
    if not 0 <= floor * k <= 1:
        raise ValidationError(f"floor {floor} is impossible for {k} arms: it must lie in [0, 1/{k}]")
    return floor + (1.0 - k * floor) * p


def thompson_weights_beta(
    successes: ArrayLike,
    failures: ArrayLike,
    *,
    rng: np.random.Generator,
    draws: int = 10_000,
    floor: float = DEFAULT_FLOOR,
) -> NDArray[np.float64]:
    """Traffic weights for 0/1 rewards: floored probability that each arm is best."""
    return floor_weights(probability_best_beta(successes, failures, rng=rng, draws=draws), floor)


def thompson_weights_normal(
    means: ArrayLike,
    std_errors: ArrayLike,
    *,
    rng: np.random.Generator,
    draws: int = 10_000,
    floor: float = DEFAULT_FLOOR,
) -> NDArray[np.float64]:
    """Traffic weights for numeric rewards: floored probability that each arm is best."""
    return floor_weights(probability_best_normal(means, std_errors, rng=rng, draws=draws), floor)


def choose_arm(weights: ArrayLike, rng: np.random.Generator) -> int:
    """Index of one arm drawn with probability proportional to ``weights`` (a 1-D array)."""
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0 or np.any(w < 0) or not w.sum() > 0:
        raise ValidationError("weights must be a non-empty 1-D array of non-negative numbers, not all 0")
    cumulative = np.cumsum(w)
    index = np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")
    return int(min(index, w.size - 1))


def thompson_draw(
    successes: ArrayLike,
    failures: ArrayLike,
    rng: np.random.Generator,
    *,
    prior_successes: float = 1.0,
    prior_failures: float = 1.0,
) -> NDArray[np.intp]:
    """Per-call Thompson sampling: the arm with the largest single posterior draw, per batch row."""
    s, f = _counts(successes, failures)
    return np.argmax(rng.beta(s + prior_successes, f + prior_failures), axis=-1)
