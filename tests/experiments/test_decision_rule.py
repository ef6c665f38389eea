"""The pure decision rule on synthetic sums: winner, no difference, SRM block, guardrail harm, min sample,
ramp gates, always-valid running minima, Holm across treatments, bandit weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from promptevolve.experiments.decide import Observation, decide
from promptevolve.experiments.plan import ExperimentStatus, Guardrail, Mode, Plan, State, Tracker
from promptevolve.experiments.procedures import Procedure
from promptevolve.experiments.rollout import ramp_up_shares
from promptevolve.stats import ProportionStats, SampleStats

S = ExperimentStatus
LATENCY = Guardrail("latency_ms", 0.05, True)


def plan(**changes) -> Plan:
    base = Plan(
        mode=Mode.AB,
        control="control",
        treatments=("treatment",),
        test_shares_bp={"control": 5000, "treatment": 5000},
        metric="thumbs",
        relative=False,
        procedure=Procedure.SEQUENTIAL,
        alpha=0.05,
        mde=0.05,
        min_sample=500,
        guardrails=(LATENCY,),
        srm_grace_s=0.0,
        min_units_per_step=50,
        guardrail_min_units=20,
    )
    return replace(base, **changes)


def running(p: Plan, **changes) -> State:
    state = State(
        status=S.RUNNING,
        shares_bp=dict(p.test_shares_bp),
        started_at=0.0,
        phase_since=0.0,
        measure_since=0.0,
    )
    return replace(state, **changes)


def latencies(rng, n, factor=1.0, sigma=0.2) -> SampleStats:
    return SampleStats.from_values(1000 * factor * np.exp(sigma * rng.standard_normal(n)))


def obs(p: Plan, primary, *, units=None, latency=None, rng=None) -> Observation:
    rng = rng or np.random.default_rng(0)
    latency = latency or {a: latencies(rng, s.n) for a, s in primary.items()}
    units = units or {a: s.n for a, s in primary.items()}
    return Observation(units=units, primary=primary, guardrails={"latency_ms": latency})


def look(p, state, o, now=100.0):
    return decide(p, state, o, now=now, rng=np.random.default_rng(1))


def test_a_clear_winner_with_the_minimum_sample_is_promoted_and_explained():
    p = plan()
    out = look(
        p,
        running(p),
        obs(p, {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 600)}),
    )
    assert out.verdict == "promoted" and out.state.status is S.CONCLUDED and out.state.winner == "treatment"
    assert [n.action for n in out.notes] == ["winner", "promote"]
    assert "thumbs +0.1" in out.reason and "SRM p" in out.reason
    figures = out.notes[0].figures
    assert figures["arms"]["treatment"]["p_adjusted"] < 0.05 and figures["arms"]["control"]["units"] == 1000


def test_nothing_is_decided_below_the_minimum_sample_even_when_significant():
    p = plan(min_sample=5000)
    out = look(
        p,
        running(p),
        obs(p, {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 650)}),
    )
    assert out.verdict == "collecting" and out.state.status is S.RUNNING and not out.notes
    assert "control 1000, treatment 1000 of 5000" in out.reason
    assert out.state.primary["treatment"].p_better < 1e-6, "the running p-value keeps accumulating meanwhile"


def test_sample_ratio_mismatch_blocks_the_winner_and_is_logged_once():
    p = plan()
    data = {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 600)}
    skewed = {"control": 1200, "treatment": 1000}
    first = look(p, running(p), obs(p, data, units=skewed))
    assert first.verdict == "srm_blocked" and first.state.status is S.RUNNING and first.state.srm_blocked
    assert [n.action for n in first.notes] == ["srm_blocked"] and "χ² p" in first.reason
    again = look(p, first.state, obs(p, data, units=skewed))
    assert again.verdict == "srm_blocked" and not again.notes, "a persisting block is not logged again"
    healed = look(p, again.state, obs(p, data))
    assert [n.action for n in healed.notes] == ["srm_cleared", "winner", "promote"]


def test_guardrail_harm_rolls_back_with_the_reason_even_when_the_primary_wins():
    p = plan()
    rng = np.random.default_rng(3)
    data = {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 600)}
    slow = {"control": latencies(rng, 1000), "treatment": latencies(rng, 1000, factor=1.25)}
    out = look(p, running(p), obs(p, data, latency=slow))
    assert out.verdict == "rolled_back" and out.state.status is S.ROLLED_BACK
    assert out.state.shares_bp == {"control": 10_000, "treatment": 0}
    assert "latency_ms of treatment is worse than control beyond its 5.00 % tolerance" in out.reason
    assert out.notes[0].action == "rollback" and out.notes[0].figures["guardrails"][0]["harmed"]


def test_harm_within_tolerance_or_on_too_few_units_does_not_roll_back():
    p = plan()
    rng = np.random.default_rng(4)
    data = {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 500)}
    slightly = {"control": latencies(rng, 5000), "treatment": latencies(rng, 5000, factor=1.02)}
    assert look(p, running(p), obs(p, data, latency=slightly)).state.status is S.RUNNING
    tiny = {"control": latencies(rng, 10), "treatment": latencies(rng, 10, factor=3.0)}
    assert look(p, running(p), obs(p, data, latency=tiny)).state.status is S.RUNNING


def test_no_difference_when_the_interval_excludes_the_mde_on_both_sides():
    p = plan(mde=0.05, min_sample=1000)
    out = look(
        p,
        running(p),
        obs(p, {"control": ProportionStats(20000, 10000), "treatment": ProportionStats(20000, 10050)}),
    )
    assert out.verdict == "no_difference" and out.state.status is S.CONCLUDED and out.state.winner is None
    assert out.state.shares_bp["control"] == 10_000 and "within ±0.05" in out.reason


def test_a_significantly_worse_treatment_leaves_the_control_in_place():
    p = plan()
    out = look(
        p,
        running(p),
        obs(p, {"control": ProportionStats(1000, 600), "treatment": ProportionStats(1000, 480)}),
    )
    assert out.verdict == "control_better" and out.state.status is S.CONCLUDED and out.state.winner is None


def test_the_always_valid_p_value_is_the_running_minimum_over_looks():
    p = plan(min_sample=10**6)
    strong = obs(p, {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 600)})
    weak = obs(p, {"control": ProportionStats(2000, 1000), "treatment": ProportionStats(2000, 1010)})
    first = look(p, running(p), strong)
    second = look(p, first.state, weak)
    t1, t2 = first.state.primary["treatment"], second.state.primary["treatment"]
    assert t2.looks == 2 and t2.p_better == t1.p_better < 0.01
    assert t2.low == t1.low and t2.high <= t1.high, "the running interval is the intersection"
    fixed = plan(min_sample=10**6, procedure=Procedure.FIXED)
    assert look(fixed, first.state, weak).state.primary["treatment"].p_better > 0.5, "fixed keeps no minimum"


def test_holm_adjusts_across_treatments_and_the_best_significant_one_wins():
    p = plan(
        treatments=("treatment_1", "treatment_2"),
        test_shares_bp={"control": 3334, "treatment_1": 3333, "treatment_2": 3333},
        ladder_bp=(100, 500, 1000, 2500, 5000, 10_000),
    )
    data = {
        "control": ProportionStats(2000, 1000),
        "treatment_1": ProportionStats(2000, 1090),
        "treatment_2": ProportionStats(2000, 1160),
    }
    out = look(p, running(p), obs(p, data))
    assert out.state.winner == "treatment_2" and out.verdict == "ramping"
    assert out.state.shares_bp == {"control": 5000, "treatment_1": 0, "treatment_2": 5000}, (
        "winner ramps to 50 %"
    )
    adjusted = {a.arm: a.primary.p_adjusted for a in out.arms if a.primary}
    raw = {a.arm: a.primary.tracker.p_better for a in out.arms if a.primary}
    assert adjusted["treatment_2"] == pytest.approx(2 * raw["treatment_2"])
    assert adjusted["treatment_1"] >= raw["treatment_1"]


def test_ramp_up_waits_for_units_and_for_guardrails_shown_within_the_margin():
    p = plan(ladder_bp=(100, 500, 1000, 2500, 5000, 10_000))
    state = State(status=S.RAMPING, shares_bp=ramp_up_shares(p, 0), step=0, started_at=0.0, phase_since=0.0)
    rng = np.random.default_rng(5)
    few = {"control": latencies(rng, 3000), "treatment": latencies(rng, 30)}
    wait = look(p, state, Observation({"control": 3000, "treatment": 30}, {}, {"latency_ms": few}))
    assert wait.verdict == "ramping" and "treatment 30/50" in wait.reason and wait.state.step == 0
    noisy = {"control": latencies(rng, 5940, sigma=0.6), "treatment": latencies(rng, 60, sigma=0.6)}
    unclear = look(p, state, Observation({"control": 5940, "treatment": 60}, {}, {"latency_ms": noisy}))
    assert unclear.state.step == 0 and "latency_ms of treatment to show harm below 7.50 %" in unclear.reason
    calm = {"control": latencies(rng, 20_000), "treatment": latencies(rng, 2000)}
    go = look(p, state, Observation({"control": 19_800, "treatment": 200}, {}, {"latency_ms": calm}), now=7.0)
    assert go.state.step == 1 and go.state.shares_bp == {"control": 9500, "treatment": 500}
    assert go.state.phase_since == 7.0 and [n.action for n in go.notes] == ["ramp_step"]


def test_ramp_up_ends_in_the_measurement_at_the_test_shares():
    p = plan(ladder_bp=(100, 500, 1000, 2500, 5000, 10_000), guardrails=())
    state = State(status=S.RAMPING, shares_bp=ramp_up_shares(p, 3), step=3, started_at=0.0, phase_since=0.0)
    out = look(p, state, Observation({"control": 300, "treatment": 100}, {}, {}), now=9.0)
    assert out.state.status is S.RUNNING and out.state.measure_since == 9.0
    assert out.state.shares_bp == {"control": 5000, "treatment": 5000} and out.notes[0].action == "measure"


def test_a_winner_below_half_climbs_the_ladder_then_is_promoted_and_harm_rolls_it_back():
    p = plan(test_shares_bp={"control": 9000, "treatment": 1000}, ladder_bp=(100, 1000, 2500, 5000, 10_000))
    data = {"control": ProportionStats(4000, 2000), "treatment": ProportionStats(1000, 600)}
    units = {"control": 9 * 300, "treatment": 300}
    won = look(p, running(p), obs(p, data, units=units))
    assert won.state.winner == "treatment" and won.state.shares_bp["treatment"] == 2500
    rng = np.random.default_rng(6)
    calm = {"control": latencies(rng, 4000), "treatment": latencies(rng, 1000)}
    step = look(p, won.state, obs(p, data, units={"control": 300, "treatment": 100}, latency=calm))
    assert step.state.shares_bp["treatment"] == 5000 and step.verdict == "ramping"
    final = look(p, step.state, obs(p, data, units={"control": 100, "treatment": 100}, latency=calm))
    assert final.verdict == "promoted" and final.state.shares_bp["treatment"] == 10_000
    slow = {"control": latencies(rng, 4000), "treatment": latencies(rng, 1000, factor=1.3)}
    harmed = look(p, step.state, obs(p, data, latency=slow, units={"control": 100, "treatment": 100}))
    assert harmed.verdict == "rolled_back", "the winner being ramped is rolled back, not dropped"


def test_a_harmed_treatment_among_several_is_dropped_and_its_share_returns_to_control():
    p = plan(
        treatments=("treatment_1", "treatment_2"),
        test_shares_bp={"control": 3334, "treatment_1": 3333, "treatment_2": 3333},
        min_sample=10**6,
    )
    rng = np.random.default_rng(7)
    data = {a: ProportionStats(1000, 500) for a in p.arms}
    slow = {
        "control": latencies(rng, 1000),
        "treatment_1": latencies(rng, 1000, factor=1.3),
        "treatment_2": latencies(rng, 1000),
    }
    out = look(p, running(p), obs(p, data, latency=slow))
    assert out.verdict == "dropped" and out.state.dropped == ("treatment_1",)
    assert out.state.shares_bp == {"control": 6667, "treatment_1": 0, "treatment_2": 3333}


def test_fixed_horizon_decides_once_at_the_planned_sample():
    p = plan(procedure=Procedure.FIXED, min_sample=1000, mde=0.01)
    out = look(
        p,
        running(p),
        obs(p, {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 510)}),
    )
    assert out.verdict == "inconclusive" and out.state.status is S.CONCLUDED


def test_bayesian_procedure_declares_a_winner_by_chance_to_win():
    p = plan(procedure=Procedure.BAYESIAN)
    out = look(
        p,
        running(p),
        obs(p, {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 560)}),
    )
    treated = next(a for a in out.arms if a.arm == "treatment")
    assert treated.primary.comparison.chance_to_win > 0.95 and out.state.winner == "treatment"


def test_bandit_weights_favour_the_better_arm_and_keep_the_floor():
    p = plan(
        mode=Mode.BANDIT,
        treatments=("b", "c"),
        test_shares_bp={"control": 3334, "b": 3333, "c": 3333},
        guardrails=(),
        min_sample=10,
    )
    data = {
        "control": ProportionStats(300, 150),
        "b": ProportionStats(300, 240),
        "c": ProportionStats(300, 120),
    }
    out = look(p, running(p), obs(p, data))
    shares = out.state.shares_bp
    assert sum(shares.values()) == 10_000 and shares["b"] > 9000 and min(shares.values()) >= 100
    assert [n.action for n in out.notes] == ["bandit_weights"] and out.state.phase_since == 100.0
    phase = {a: 3 * bp // 100 for a, bp in shares.items()}
    steady = look(p, out.state, obs(p, data, units=phase))
    assert not steady.notes and steady.state.shares_bp == shares, "Monte Carlo noise does not churn shares"
    young = look(p, running(p), obs(p, {a: ProportionStats(5, 3) for a in p.arms}))
    assert young.verdict == "collecting" and young.state.shares_bp == running(p).shares_bp


def test_paused_and_finished_experiments_are_left_alone():
    p = plan()
    for status in (S.PAUSED, S.CONCLUDED, S.DRAFT):
        state = running(p, status=status)
        out = look(
            p, state, obs(p, {"control": ProportionStats(1000, 500), "treatment": ProportionStats(1000, 700)})
        )
        assert out.state == state and not out.notes


def test_trackers_survive_a_look_whose_data_cannot_be_compared():
    p = plan()
    old = Tracker(looks=3, low=0.01, high=0.2, p_better=0.01)
    state = running(p, primary={"treatment": old})
    out = look(p, state, obs(p, {"control": ProportionStats(1, 1), "treatment": ProportionStats(1, 0)}))
    assert out.state.primary["treatment"] == old


def test_lift_intervals_are_cut_to_what_the_lift_can_be() -> None:
    from promptevolve.experiments.decide import on_scale

    assert on_scale(-2.16, 1.95, bounded=True, relative=False) == (-1.0, 1.0)
    assert on_scale(-0.2, 0.3, bounded=True, relative=False) == (-0.2, 0.3)
    assert on_scale(-3.0, 5.0, bounded=False, relative=True) == (-1.0, 5.0)
    assert on_scale(-3.0, 5.0, bounded=False, relative=False) == (-3.0, 5.0)
    assert on_scale(None, None, bounded=True, relative=False) == (None, None)
