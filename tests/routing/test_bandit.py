"""Thompson-sampling weights: probabilities of being best, floored, reproducible from the rng."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from scipy import stats as sps

from promptevolve.core.errors import ValidationError
from promptevolve.routing.bandit import (
    choose_arm,
    floor_weights,
    probability_best_beta,
    probability_best_normal,
    thompson_draw,
    thompson_weights_beta,
    thompson_weights_normal,
)

arm_counts = st.integers(1, 6).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 500), min_size=k, max_size=k),
        st.lists(st.integers(0, 500), min_size=k, max_size=k),
    )
)


def exact_two_arm_probability(s: tuple[int, int], f: tuple[int, int]) -> float:
    """P(arm 1 beats arm 0) for Beta(s + 1, f + 1) posteriors (Evan Miller's closed form)."""
    aa, ba, ab, bb = s[0] + 1, f[0] + 1, s[1] + 1, f[1] + 1
    i = np.arange(ab)
    logs = special.betaln(aa + i, ba + bb) - np.log(bb + i) - special.betaln(1 + i, bb)
    return float(np.exp(logs - special.betaln(aa, ba)).sum())


@settings(deadline=None)
@given(arm_counts, st.floats(0.0, 0.1), st.integers(0, 2**32 - 1))
def test_weights_sum_to_one_and_every_arm_keeps_at_least_the_floor(counts, floor, seed) -> None:
    successes, failures = counts
    floor = min(floor, 1 / len(successes))
    w = thompson_weights_beta(successes, failures, rng=np.random.default_rng(seed), draws=500, floor=floor)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(w >= floor - 1e-12)


@pytest.mark.parametrize(("s", "f"), [((30, 36), (20, 14)), ((700, 720), (300, 280)), ((2, 3), (5, 4))])
def test_probability_best_matches_the_exact_two_arm_beta_probability(s, f) -> None:
    """20,000 draws: within 4 Monte Carlo standard errors (≤ 0.0142) of the exact value."""
    p = probability_best_beta(list(s), list(f), rng=np.random.default_rng(3), draws=20_000)
    exact = exact_two_arm_probability(s, f)
    assert p[1] == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 20_000) + 1e-3)


def test_probability_best_normal_matches_the_normal_cdf_for_two_arms() -> None:
    p = probability_best_normal([1.0, 1.1], [0.05, 0.08], rng=np.random.default_rng(4), draws=40_000)
    exact = sps.norm.cdf(0.1 / np.hypot(0.05, 0.08))
    assert p[1] == pytest.approx(exact, abs=0.01)


def test_same_seed_gives_the_same_weights_and_a_clear_winner_gets_most_traffic() -> None:
    args = ([70, 72, 90], [30, 28, 10])
    first = thompson_weights_beta(*args, rng=np.random.default_rng(8))
    assert np.array_equal(first, thompson_weights_beta(*args, rng=np.random.default_rng(8)))
    assert first[2] > 0.9 and first.min() >= 0.01


def test_normal_weights_favour_the_higher_mean() -> None:
    w = thompson_weights_normal([0.5, 0.8, 0.6], [0.05, 0.05, 0.05], rng=np.random.default_rng(2))
    assert np.argmax(w) == 1 and w.sum() == pytest.approx(1.0)


def test_floor_mixes_with_uniform_and_keeps_the_order_of_the_arms() -> None:
    w = floor_weights([0.0, 0.25, 0.75], floor=0.1)
    assert w == pytest.approx([0.1, 0.275, 0.625])
    with pytest.raises(ValidationError):
        floor_weights([0.5, 0.5], floor=0.6)


def test_choose_arm_follows_the_weights() -> None:
    """50,000 choices pass a χ² goodness-of-fit test against the weights (p > 0.001)."""
    rng, weights = np.random.default_rng(5), np.array([0.1, 0.0, 0.6, 0.3])
    picks = np.bincount([choose_arm(weights, rng) for _ in range(50_000)], minlength=4)
    assert picks[1] == 0
    live = weights > 0
    assert sps.chisquare(picks[live], weights[live] * 50_000).pvalue > 0.001


def test_per_call_thompson_draw_picks_arms_with_their_probability_of_being_best() -> None:
    s, f = np.array([[40, 45, 50]] * 20_000), np.array([[60, 55, 50]] * 20_000)
    picks = np.bincount(thompson_draw(s, f, np.random.default_rng(6)), minlength=3) / 20_000
    best = probability_best_beta(s[0], f[0], rng=np.random.default_rng(7), draws=20_000)
    assert picks == pytest.approx(best, abs=0.02)


def test_batched_bandits_have_one_weight_vector_per_row() -> None:
    s = np.array([[10, 20], [20, 10], [15, 15]])
    w = thompson_weights_beta(s, 30 - s, rng=np.random.default_rng(1), draws=4000)
    assert w.shape == (3, 2) and np.allclose(w.sum(axis=1), 1.0)
    assert w[0, 1] > 0.9 and w[1, 0] > 0.9


@pytest.mark.parametrize("weights", [[], [0.0, 0.0], [-0.1, 1.1], [[0.5, 0.5]]])
def test_choose_arm_rejects_weights_it_cannot_draw_from(weights) -> None:
    with pytest.raises(ValidationError):
        choose_arm(weights, np.random.default_rng(0))


def test_mismatched_or_negative_counts_raise_validation_error() -> None:
    with pytest.raises(ValidationError):
        probability_best_beta([1, 2], [1], rng=np.random.default_rng(0))
    with pytest.raises(ValidationError):
        probability_best_beta([1, -2], [1, 1], rng=np.random.default_rng(0))
