"""Holm and Benjamini–Hochberg adjusted p-values, in input order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from promptevolve.core.errors import ValidationError
from promptevolve.stats import benjamini_hochberg, holm

p_lists = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30)


def holm_by_definition(p: list[float]) -> list[float]:
    m, order = len(p), sorted(range(len(p)), key=lambda i: p[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


@given(p_lists)
def test_holm_matches_its_step_down_definition(p) -> None:
    assert holm(p) == pytest.approx(holm_by_definition(p), rel=1e-12, abs=1e-15)


@given(p_lists)
def test_benjamini_hochberg_matches_scipy_false_discovery_control(p) -> None:
    assert benjamini_hochberg(p) == pytest.approx(sps.false_discovery_control(p, method="bh"), abs=1e-12)


@given(p_lists)
def test_adjusted_p_values_are_at_least_raw_at_most_one_and_bh_never_exceeds_holm(p) -> None:
    raw, h, bh = np.asarray(p), holm(p), benjamini_hochberg(p)
    assert np.all(h >= raw - 1e-15) and np.all(bh >= raw - 1e-15)
    assert np.all(h <= 1) and np.all(bh <= h + 1e-12)


@given(p_lists)
def test_adjustments_keep_the_order_of_the_raw_p_values(p) -> None:
    order = np.argsort(p, kind="stable")
    for adjusted in (holm(p), benjamini_hochberg(p)):
        assert np.all(np.diff(adjusted[order]) >= -1e-15)


def test_holm_textbook_example() -> None:
    # Four tests at alpha 0.05: Holm rejects the first two, Bonferroni (0.0125) only the first.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_invalid_p_values_raise_validation_error() -> None:
    for bad in ([0.1, float("nan")], [1.2], [-0.1]):
        with pytest.raises(ValidationError):
            holm(bad)
        with pytest.raises(ValidationError):
            benjamini_hochberg(bad)
