"""Sample-ratio mismatch: Pearson χ² against expected shares, agreeing with SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from promptevolve.core.errors import ValidationError
from promptevolve.stats import SRM_THRESHOLD, Status, srm_blocks, srm_test

counts_and_shares = st.integers(2, 6).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 100_000), min_size=k, max_size=k).filter(lambda c: sum(c) > 0),
        st.lists(st.floats(0.01, 10.0), min_size=k, max_size=k),
    )
)


@given(counts_and_shares)
def test_srm_matches_scipy_chisquare(data) -> None:
    counts, shares = data
    result = srm_test(counts, shares)
    expected = np.asarray(shares) / sum(shares) * sum(counts)
    reference = sps.chisquare(counts, expected)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-15)
    assert result.df == len(counts) - 1


def test_two_percent_lost_treatment_exposures_block_at_two_hundred_thousand_units() -> None:
    assert srm_test([100_000, 98_000], [0.5, 0.5]).blocks
    assert not srm_test([50_000, 49_000], [0.5, 0.5]).blocks  # p = 0.0015: not yet at 100,000


def test_srm_blocks_only_below_the_threshold() -> None:
    assert SRM_THRESHOLD == 0.001
    assert srm_blocks(0.0009) and not srm_blocks(0.001) and not srm_blocks(0.5)
    assert srm_blocks(0.01, threshold=0.05)


def test_units_in_an_arm_with_zero_share_are_a_certain_mismatch() -> None:
    result = srm_test([500, 480, 3], [0.5, 0.5, 0.0])
    assert result.p_value == 0.0 and result.df == 1 and result.blocks
    assert srm_test([500, 480, 0], [0.5, 0.5, 0.0]).p_value == pytest.approx(sps.chisquare([500, 480]).pvalue)


def test_no_units_is_insufficient_data_and_never_blocks() -> None:
    result = srm_test([0, 0], [1, 1])
    assert result.status is Status.INSUFFICIENT_DATA and result.p_value == 1.0 and not result.blocks


@pytest.mark.parametrize(("counts", "shares"), [([1, 2], [1]), ([-1, 2], [1, 1]), ([1, 2], [0, 0])])
def test_malformed_input_raises_validation_error(counts, shares) -> None:
    with pytest.raises(ValidationError):
        srm_test(counts, shares)
