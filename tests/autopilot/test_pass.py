"""Passes of the autopilot on a simulated world (scripted model with known true scores, real SDK and
store, SQLite and PostgreSQL): each autonomy level, the full loop to a promotion, a harmful candidate
rolled back, quiet hours, the log written once per state, and errors contained to their prompt."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from tests.autopilot.support import PROMPT, Model, make_world, set_policy
from tests.autopilot.support import test_policy as policy_document

from promptevolve.autopilot import autopilot_status, update_policy
from promptevolve.autopilot.journal import ACTIONS
from promptevolve.core.errors import NotFoundError
from promptevolve.core.protocols import ManualClock
from promptevolve.evolution import CLASSIFICATION_STRATEGIES, DEFAULT_STRATEGIES
from promptevolve.registry import VariantCreate
from promptevolve.store.tables import Decision, Evolution, Experiment, ExperimentArm, PromptVariant


@pytest.fixture
def world(store):
    world = make_world(store)
    yield world
    world.close()


def actions(store) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(Decision.action).order_by(Decision.id)))


def count(store, table) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(table)))


def run_until(world, autopilot, done, *, passes=12, calls=300):
    for _ in range(passes):
        world.traffic(calls)
        autopilot.run_once()
        if done():
            return
    raise AssertionError(f"not done after {passes} passes: {actions(world.store)}")


def test_observe_reports_what_it_would_do_and_changes_nothing(world):
    set_policy(world, "observe")
    world.traffic(150)
    variants_before = count(world.store, PromptVariant)
    report = world.autopilot().run_once()
    [step] = report.prompts[0].steps
    assert step.action == "skip" and step.reason.startswith("observe only: would evolve") and step.logged
    assert world.autopilot().run_once().prompts[0].steps[0].logged is False, "written once per state"
    assert count(world.store, PromptVariant) == variants_before and count(world.store, Experiment) == 0
    assert world.evolution_provider.call_count == 0 and world.serving() == "1.0.0"
    assert autopilot_status(world.store).prompts[0].step == "observing"


def test_propose_evolves_and_gates_then_waits_for_a_persons_approval(world):
    set_policy(world, "propose")
    world.traffic(300)
    autopilot = world.autopilot()
    report = autopilot.run_once()
    done = [s.action for s in report.prompts[0].steps]
    assert done[0] == "evolved", report
    candidate = report.prompts[0].steps[0].figures["candidate"]
    assert report.prompts[0].steps[0].figures["status"] == "passed", report.prompts[0].steps[0].reason
    assert done[1] == "awaiting_approval" and count(world.store, Experiment) == 0
    assert world.true_score(candidate) > world.true_score("1.0.0"), report.prompts[0].steps[0].reason
    status = autopilot_status(world.store).prompts[0]
    assert (status.step, status.candidate) == ("awaiting_approval", candidate)
    world.traffic(200)
    again = autopilot.run_once().prompts[0].steps
    assert [(s.action, s.logged) for s in again] == [("awaiting_approval", False)], "no new round meanwhile"
    with pytest.raises(NotFoundError, match="not a candidate awaiting approval"):
        autopilot.approve(PROMPT, "9.9.9", actor="alice")
    step = autopilot.approve(PROMPT, candidate, actor="alice")
    assert step.action == "experiment_started" and step.experiment_id is not None
    with world.store.read() as s:
        exp = s.get(Experiment, step.experiment_id)
        assert exp.status == "ramping" and exp.created_by == "alice"
    assert autopilot_status(world.store).prompts[0].step == "ramping"


def test_autonomous_runs_evolve_gate_ab_ramp_and_promotion_over_passes(world):
    set_policy(world, "autonomous", daily_calls=1800)  # room for a third round if the gate says no twice
    autopilot = world.autopilot()
    run_until(world, autopilot, lambda: world.serving() != "1.0.0", passes=14)
    serving = world.serving()
    assert world.true_score(serving) > world.true_score("1.0.0"), (
        f"promoted {serving}: {actions(world.store)}"
    )
    log = actions(world.store)
    for action in ("evolved", "experiment_started", "ramp_step", "winner", "promote"):
        assert action in log, log
    assert log.index("experiment_started") < log.index("winner") < log.index("promote")
    promoted = world.registry.get_prompt(PROMPT)
    assert promoted.active == {serving: 100.0} and promoted.labels["production"] == serving
    with world.store.read() as s:
        rounds = s.scalars(select(Decision).where(Decision.action == "evolved")).all()
    assert sum(r.figures["calls"] for r in rounds) == world.evolution_provider.call_count <= 1800
    assert all(r.figures["calls"] <= r.figures["budget_calls"] for r in rounds)


def test_a_harmful_candidate_is_rolled_back_by_the_guardrail_and_never_tested_again(store):
    slow = Model(latency_ms={"shots": 900.0, "bare": 900.0})  # better answers, 80 % slower
    world = make_world(store, model=slow)
    try:
        set_policy(world, "autonomous", experiment={"ramp": [10, 50, 100], "min_units_per_step": 40})
        autopilot = world.autopilot()
        run_until(world, autopilot, lambda: "rollback" in actions(store), passes=10)
        with store.read() as s:
            rollback = s.scalars(select(Decision).where(Decision.action == "rollback")).one()
            first = s.get(Experiment, rollback.experiment_id)
            treatment = s.scalar(
                select(PromptVariant.version)
                .join(ExperimentArm, ExperimentArm.variant_id == PromptVariant.id)
                .where(ExperimentArm.experiment_id == first.id, ExperimentArm.is_control.is_(False))
            )
        assert first.status == "rolled_back" and "latency_ms of treatment is worse" in rollback.reason
        assert rollback.figures["shares_before_bp"]["treatment"] < 5000, "caught before half the traffic"
        assert "1.0.0" in world.registry.get_prompt(PROMPT).active, "the control serves again"
        for _ in range(3):
            world.traffic(300)
            autopilot.run_once()
        with store.read() as s:
            retested = s.scalars(
                select(ExperimentArm.experiment_id)
                .join(PromptVariant, PromptVariant.id == ExperimentArm.variant_id)
                .where(PromptVariant.version == treatment, ExperimentArm.is_control.is_(False))
            ).all()
        assert retested == [first.id], "a variant is A/B tested once"
    finally:
        world.close()


def test_quiet_hours_allow_analysis_only(world):
    set_policy(world, "autonomous", quiet_hours="22-06")
    world.traffic(300)
    night = ManualClock(datetime(2026, 11, 26, 23, 30, tzinfo=UTC).timestamp())
    report = world.autopilot(clock=night).run_once()
    [step] = report.prompts[0].steps
    assert step.action == "skip" and "quiet hours (22:00-06:00 UTC)" in step.reason
    assert count(world.store, PromptVariant) == 1 and world.evolution_provider.call_count == 0
    day = ManualClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC).timestamp())
    morning = world.autopilot(clock=day).run_once().prompts[0].steps
    assert morning[0].action == "evolved", morning


def test_quiet_hours_hold_a_due_ramp_step(world):
    set_policy(world, "autonomous", quiet_hours="22-06")
    world.traffic(300)
    day = world.autopilot(clock=ManualClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()))
    night = world.autopilot(clock=ManualClock(datetime(2026, 11, 26, 23, 0, tzinfo=UTC).timestamp()))
    first = day.run_once()
    with world.store.read() as s:
        started = s.execute(select(Experiment.id, Experiment.ramp_step)).all()
    assert len(started) == 1, f"the day's pass started no test: {first.prompts[0].steps}"
    [(exp_id, step_before)] = started
    for _ in range(8):  # until the next step is due
        world.traffic(300)
        if day.experiments.analyze(exp_id, apply=False).actions:
            break
    else:
        raise AssertionError("the ramp step never became due")
    night.run_once()
    with world.store.read() as s:
        assert s.get(Experiment, exp_id).ramp_step == step_before, "no step at night"
    day.run_once()
    with world.store.read() as s:
        exp = s.get(Experiment, exp_id)
        assert exp.status == "running" or exp.ramp_step != step_before, "taken in the morning"


def test_waiting_is_logged_once_per_state_and_every_entry_has_a_reason(world):
    set_policy(world, "autonomous", evolution={"min_feedback": 10_000})
    autopilot = world.autopilot()
    for _ in range(3):
        world.traffic(20)
        autopilot.run_once()
    with world.store.read() as s:
        rows = s.scalars(select(Decision).where(Decision.action.in_(ACTIONS))).all()
    assert [r.action for r in rows] == ["skip"] and "waiting for feedback" in rows[0].reason
    assert rows[0].figures["min_feedback"] == 10_000 and rows[0].actor == "autopilot"


def test_an_error_in_one_prompt_is_logged_once_and_the_pass_goes_on(world):
    set_policy(world, "autonomous", evolution={"dataset": "missing", "min_feedback": 1})
    world.traffic(5)
    first = world.autopilot().run_once().prompts[0]
    assert first.outcome == "done" and first.steps[0].action == "evolve_failed"
    assert "missing" in first.steps[0].reason
    with world.store.read() as s:
        assert s.scalar(select(func.count()).where(Decision.action == "evolve_failed")) == 1
    assert world.evolution_provider.call_count == 0


def test_a_stored_policy_this_version_cannot_read_is_reported_and_the_others_still_run(world):
    set_policy(world, "observe")
    world.registry.register(VariantCreate(prompt="other", template="Hi {{ x }}"))
    world.registry.update_config("other", {"autopilot": {"autonomy": "yolo"}})  # bypassing validation
    report = world.autopilot().run_once()
    by_name = {p.prompt: p for p in report.prompts}
    assert by_name["other"].outcome == "error" and "autonomy" in by_name["other"].error
    assert by_name[PROMPT].outcome == "done"


@pytest.mark.parametrize(
    ("options", "expected"),
    [({"labels": ["warm", "cold"]}, CLASSIFICATION_STRATEGIES), ({}, DEFAULT_STRATEGIES)],
)
def test_a_round_uses_the_classification_strategies_when_the_policy_declares_labels(world, options, expected):
    policy = policy_document("propose")
    del policy["evolution"]["strategies"]  # not named: chosen by the task, as `evolve` does
    policy["evolution"]["evaluator_options"] = options
    update_policy(world.registry, PROMPT, policy, actor="test")
    world.traffic(300)
    [step, *_] = world.autopilot().run_once().prompts[0].steps
    assert step.action == "evolved", step.reason
    with world.store.read() as s:
        rows = s.scalars(select(Evolution)).all()
    assert rows
    runs = {tuple(r.evidence["run"]["strategies"]) for r in rows}
    assert runs == {tuple(expected)}
    assert {r.strategy for r in rows} <= set(expected)
    assert all(r.evidence["run"]["evaluator_options"] == options for r in rows)
    if options:  # the label constraint was tried
        assert "labels" in {r.strategy for r in rows}, [(r.strategy, r.status) for r in rows]
