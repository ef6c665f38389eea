"""Drift in a pass (SQLite and PostgreSQL): the serving variant's score collapses; the alarm is logged
with its figures, a severe drop rolls back to the previous production version (autonomous) or is only
recommended (propose), and the alarm triggers an evolution round without waiting for feedback."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.autopilot.support import PROMPT, TEMPLATE, make_world, set_policy

from promptevolve.autopilot import autopilot_status
from promptevolve.core.types import ModelSettings
from promptevolve.registry import VariantCreate
from promptevolve.store.tables import Decision

DRIFT = {"enabled": True, "batch": 10, "reference_batches": 6, "settle_s": 0, "rollback_drop": 0.15}


@pytest.fixture
def world(store):
    world = make_world(store)
    v2 = [TEMPLATE[0], {"role": "user", "content": "[v2] Colour: {{ colour }}"}]
    world.registry.register(VariantCreate(prompt=PROMPT, template=v2, settings=ModelSettings(provider="sim")))
    world.registry.activate(PROMPT, "1.1.0", exclusive=True)  # promoted earlier: 1.0.0 was production
    world.registry.set_label(PROMPT, "production", "1.1.0")
    yield world
    world.close()


def entries(store, action):
    with store.read() as s:
        return s.scalars(select(Decision).where(Decision.action == action).order_by(Decision.id)).all()


def degrade_and_pass(world, autonomy):
    set_policy(world, autonomy, drift=DRIFT, evolution={"min_feedback": 10_000})
    autopilot = world.autopilot()
    autopilot.run_once()  # the detector starts on 1.1.0
    world.traffic(90)
    autopilot.run_once()
    assert not entries(world.store, "drift_detected"), "no alarm while the level holds"
    status = autopilot_status(world.store).prompts[0].drift
    assert status.reference_progress["composite"] == 1.0 and status.monitored_batches["composite"] >= 2
    world.model.p["v2"] = 0.1  # the model behind 1.1.0 changed
    world.traffic(120)
    return autopilot.run_once().prompts[0]


def test_a_severe_drop_rolls_back_to_the_previous_production_version_and_evolves(world):
    result = degrade_and_pass(world, "autonomous")
    done = [s.action for s in result.steps]
    assert done[:2] == ["drift_detected", "drift_rollback"], done
    [alarm] = entries(world.store, "drift_detected")
    assert alarm.figures["metric"] == "composite" and alarm.figures["variant"] == "1.1.0"
    assert alarm.figures["shift"] < -0.15 and alarm.figures["reference"] > alarm.figures["level"]
    assert world.serving() == "1.0.0" and world.registry.get_prompt(PROMPT).labels["production"] == "1.0.0"
    assert any(
        "severe drift" in (h.reason or "") for h in world.registry.history(PROMPT) if h.action == "rollback"
    )
    assert "evolved" in done or "evolve_failed" in done, "the alarm triggers a round without 10,000 feedback"
    round_ = (entries(world.store, "evolved") or entries(world.store, "evolve_failed"))[0]
    assert round_.figures["trigger"] == "a drift alarm"


def test_under_propose_a_severe_drop_is_only_recommended(world):
    result = degrade_and_pass(world, "propose")
    done = [s.action for s in result.steps]
    assert done[:2] == ["drift_detected", "rollback_recommended"], done
    assert "promptevolve prompt rollback colours 1.0.0" in result.steps[1].reason
    assert world.serving() == "1.1.0"


def test_observe_logs_the_alarm_and_changes_nothing(world):
    result = degrade_and_pass(world, "observe")
    assert result.steps[0].action == "drift_detected"
    assert world.serving() == "1.1.0" and not entries(world.store, "evolved")
