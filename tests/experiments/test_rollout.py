"""Ramp shares and basis points: exact sums, the ladder, only the changed arm moves units."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from promptevolve.experiments.plan import Mode, Plan
from promptevolve.experiments.procedures import Procedure
from promptevolve.experiments.rollout import (
    equal_shares,
    ramp_up_complete,
    ramp_up_shares,
    target_shares,
    weights_to_bp,
    winner_shares,
    winner_step_after,
)
from promptevolve.routing.buckets import bucket_table

PLAN = Plan(
    mode=Mode.AB,
    control="control",
    treatments=("t1", "t2"),
    test_shares_bp={"control": 3334, "t1": 3333, "t2": 3333},
    metric="composite",
    relative=False,
    procedure=Procedure.SEQUENTIAL,
    alpha=0.05,
    mde=0.05,
    min_sample=100,
    ladder_bp=(100, 500, 1000, 2500, 5000, 10_000),
)


@given(st.lists(st.floats(0.001, 1000), min_size=1, max_size=12))
def test_weights_become_basis_points_that_sum_to_exactly_100_percent(weights):
    bp = weights_to_bp({f"a{i}": w for i, w in enumerate(weights)})
    assert sum(bp.values()) == 10_000 and all(v >= 0 for v in bp.values())
    total = sum(weights)
    assert all(abs(bp[f"a{i}"] - 10_000 * w / total) < 1 for i, w in enumerate(weights))


def test_ramp_up_follows_the_ladder_up_to_the_test_shares():
    assert [ramp_up_shares(PLAN, i)["t1"] for i in range(6)] == [100, 500, 1000, 2500, 3333, 3333]
    assert ramp_up_shares(PLAN, 0) == {"control": 9800, "t1": 100, "t2": 100}
    assert [ramp_up_complete(PLAN, i) for i in range(6)] == [False] * 4 + [True] * 2
    assert ramp_up_shares(PLAN, 1, dropped=("t2",)) == {"control": 9500, "t1": 500, "t2": 0}
    assert target_shares(PLAN, dropped=("t1",)) == {"control": 6667, "t1": 0, "t2": 3333}
    assert equal_shares(["a", "b", "c"]) == {"a": 3334, "b": 3333, "c": 3333}


def test_a_winner_climbs_the_steps_above_its_share_and_100_percent_means_promotion():
    assert winner_step_after(PLAN, 3333) == 4 and winner_step_after(PLAN, 5000) is None
    assert winner_shares(PLAN, "t2", 5000) == {"control": 5000, "t1": 0, "t2": 5000}
    assert winner_step_after(replace(PLAN, ladder_bp=()), 3333) is None


def test_a_ramp_step_moves_units_only_between_the_control_and_the_ramped_arm():
    before = bucket_table("seed", tuple(ramp_up_shares(PLAN, 1).items()))
    after = bucket_table("seed", tuple(ramp_up_shares(PLAN, 2, dropped=()).items()))
    moved = {(a, b) for a, b in zip(before, after, strict=True) if a != b}
    assert moved and moved <= {("control", "t1"), ("control", "t2")}
