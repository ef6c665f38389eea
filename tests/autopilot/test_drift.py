"""The drift detector, pure: it finds drops of known size within the expected delay, its false alarms
under no change stay at the rate docs/autopilot.md states, and its state survives a JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptevolve.autopilot.drift import (
    CusumParams,
    CusumState,
    Direction,
    arl_normal,
    observe,
    reference,
    run_length,
    state_from_json,
    state_to_json,
)

PARAMS = CusumParams()  # the defaults: batch 50, reference 40 batches, k = 0.5, h = 8


def bernoulli(p: float):
    return lambda rng, n: (rng.random(n) < p).astype(float)


def switch(before: float, after: float, params: CusumParams = PARAMS):
    """0/1 data at ``before`` for the reference, then at ``after``."""
    seen = {"n": 0}

    def sample(rng, n):
        start = seen["n"]
        seen["n"] += n
        reference_n = params.batch * params.reference_batches
        p = np.where(np.arange(start, start + n) < reference_n, before, after)
        return (rng.random(n) < p).astype(float)

    return sample


def test_siegmund_approximation_gives_the_textbook_figures():
    assert arl_normal(0.5, 5.0) == pytest.approx(938, rel=0.01)  # the classic one-sided ARL0 of about 930
    assert arl_normal(0.5, 8.0) > 15_000
    assert arl_normal(0.5, 8.0, shift=2.0) < 7


def test_false_alarms_under_no_change_stay_at_the_stated_rate():
    rng = np.random.default_rng(20261126)
    runs = [run_length(bernoulli(0.6), PARAMS, rng, max_batches=100, chunk_batches=100) for _ in range(400)]
    rate = sum(r is not None for r in runs) / len(runs)
    # Stated in docs/autopilot.md: about 5 % of runs alarm within 100 batches (5,000 executions).
    assert 0.02 <= rate <= 0.09, rate


@pytest.mark.parametrize(("after", "median_at_most"), [(0.5, 14), (0.45, 8)])
def test_a_drop_is_detected_within_the_expected_delay(after, median_at_most):
    rng = np.random.default_rng(7)
    delays = []
    for _ in range(60):
        delay = run_length(switch(0.6, after), PARAMS, rng, max_batches=500, chunk_batches=1)
        delays.append(500 if delay is None else delay)
    assert np.median(delays) <= median_at_most, delays
    assert max(delays) < 500, "every drop is found"


def test_a_rise_of_the_error_rate_alarms_with_its_size():
    params = CusumParams(direction=Direction.UP, batch=20, reference_batches=10)
    rng = np.random.default_rng(1)
    state, alarms = observe(CusumState(), (rng.random(200) < 0.02).astype(float), params)
    assert not alarms and reference(state, params) is not None
    state, alarms = observe(state, (rng.random(400) < 0.3).astype(float), params)
    assert alarms, "a jump from 2 % to 30 % errors alarms"
    alarm = alarms[0]
    assert alarm.direction is Direction.UP and alarm.shift > 0.15 and alarm.size == alarm.shift
    assert alarm.level == pytest.approx(0.3, abs=0.12)


def test_after_an_alarm_the_detector_learns_the_new_level():
    params = CusumParams(batch=10, reference_batches=5)
    rng = np.random.default_rng(3)
    state, _ = observe(CusumState(), (rng.random(50) < 0.9).astype(float), params)
    state, alarms = observe(state, (rng.random(2000) < 0.4).astype(float), params)
    assert len(alarms) == 1, "one alarm for one change, then a new reference at the new level"
    assert reference(state, params)[0] == pytest.approx(0.4, abs=0.15)


def test_constant_values_do_not_divide_by_zero():
    params = CusumParams(batch=5, reference_batches=2)
    state, alarms = observe(CusumState(), [1.0] * 10 + [1.0] * 100, params)
    assert not alarms and reference(state, params) == (1.0, pytest.approx(0.02 / 5**0.5))
    _, alarms = observe(state, [0.0] * 10, params)
    assert alarms and alarms[0].size == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(0, 1), max_size=300),
    cut=st.integers(0, 300),
    batch=st.integers(1, 7),
)
def test_feeding_in_pieces_equals_feeding_at_once_and_survives_json(values, cut, batch):
    params = CusumParams(batch=batch, reference_batches=3)
    whole, alarms_whole = observe(CusumState(), values, params)
    part, alarms_a = observe(CusumState(), values[:cut], params)
    part = state_from_json(json.loads(json.dumps(state_to_json(part))))
    part, alarms_b = observe(part, values[cut:], params)
    assert [a.monitored for a in alarms_whole] == [a.monitored for a in (*alarms_a, *alarms_b)]
    assert part.ref_n == whole.ref_n and part.monitored == whole.monitored
    assert part.statistic == pytest.approx(whole.statistic, abs=1e-9)
