"""Policies in ``prompts.config["autopilot"]``: create, read, change in part, list, remove, every change
audited; a refused change writes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from promptevolve.autopilot import (
    Autonomy,
    Policy,
    QuietHours,
    get_policy,
    list_policies,
    remove_policy,
    update_policy,
)
from promptevolve.core.errors import NotFoundError
from promptevolve.registry import Registry, VariantCreate


@pytest.fixture
def registry(store):
    registry = Registry(store, actor="test")
    for name in ("a", "b"):
        registry.register(VariantCreate(prompt=name, template="Hello {{ x }}"))
    return registry


def test_policies_are_created_changed_in_part_listed_and_removed_with_an_audit_trail(registry):
    assert get_policy(registry, "a") is None and list_policies(registry) == {}
    created = update_policy(
        registry, "a", {"autonomy": "propose", "daily_calls": 120, "quiet_hours": "22-06"}, actor="alice"
    )
    assert created.autonomy is Autonomy.PROPOSE and created.daily_calls == 120
    assert created.evolution.min_feedback == 50, "defaults fill the rest"
    changed = update_policy(registry, "a", {"evolution": {"min_feedback": 10}}, actor="bob")
    assert changed.evolution.min_feedback == 10 and changed.evolution.round_calls == 200
    assert changed.daily_calls == 120 and str(changed.quiet_hours) == "22:00-06:00", "nested keys merge"
    assert get_policy(registry, "a") == changed and set(list_policies(registry)) == {"a"}
    history = [h for h in registry.history("a") if h.action == "config"]
    assert [h.actor for h in history] == ["bob", "alice"]
    assert history[0].before["autopilot"]["evolution"]["min_feedback"] == 50
    assert history[0].after["autopilot"]["evolution"]["min_feedback"] == 10
    remove_policy(registry, "a", actor="carol")
    assert get_policy(registry, "a") is None and list_policies(registry) == {}


@pytest.mark.parametrize(
    "change",
    [
        {"autonomy": "yolo"},
        {"quiet_hours": "25-06"},
        {"timezone": "Mars/Olympus"},
        {"daily_calls": -1},
        {"experiment": {"ramp": [50, 10]}},
        {"experiment": {"guardrails": [{"metric": "nonsense", "tolerance": 0.1}]}},
        {"webhook_url": "ftp://example.com"},
        {"unknown": 1},
    ],
)
def test_an_invalid_policy_is_refused_and_writes_nothing(registry, db_snapshot, change):
    update_policy(registry, "a", {"autonomy": "observe"})
    before = db_snapshot()
    with pytest.raises(pydantic.ValidationError):
        update_policy(registry, "a", change)
    assert db_snapshot() == before


def test_an_unknown_prompt_is_named(registry):
    with pytest.raises(NotFoundError, match="nope"):
        get_policy(registry, "nope")
    with pytest.raises(NotFoundError, match="nope"):
        update_policy(registry, "nope", {"autonomy": "observe"})


@pytest.mark.parametrize(
    ("window", "inside", "outside"),
    [("22-06", ["23:00", "00:30", "05:59"], ["06:00", "12:00", "21:59"]), ("09:30-17", ["09:30"], ["17:00"])],
)
def test_quiet_hours_cross_midnight_in_the_policy_time_zone(window, inside, outside):
    policy = Policy(quiet_hours=window)
    for hhmm, expected in [(t, True) for t in inside] + [(t, False) for t in outside]:
        hour, minute = map(int, hhmm.split(":"))
        now = datetime(2026, 11, 26, hour, minute, tzinfo=UTC).timestamp()
        assert policy.is_quiet(now) is expected, hhmm
    paris = Policy(quiet_hours="22-06", timezone="Europe/Paris")
    assert paris.is_quiet(datetime(2026, 11, 26, 21, 30, tzinfo=UTC).timestamp()), "22:30 in Paris"
    assert QuietHours.parse("22-06").contains(23 * 60)
