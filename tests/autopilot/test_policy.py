"""Policies in ``prompts.config["autopilot"]``: create, read, change in part, list, remove, every change
audited; a refused change writes nothing; stored with the version of their form, an unversioned one
read as version 1, one of an unknown version refused (SQLite and PostgreSQL)."""

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
from promptevolve.autopilot.policy import POLICY_VERSION, policy_from_stored, policy_to_stored
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


def test_a_policy_is_stored_with_its_version_and_an_unversioned_one_is_read_then_stored_versioned(registry):
    policy = update_policy(registry, "a", {"autonomy": "propose", "daily_calls": 120})
    stored = registry.get_config("a")["autopilot"]
    assert stored["version"] == POLICY_VERSION == 1 and policy_from_stored(stored) == policy
    old = {k: v for k, v in stored.items() if k != "version"}  # what releases before versions wrote
    registry.update_config("a", {"autopilot": old})
    assert get_policy(registry, "a") == policy
    changed = update_policy(registry, "a", {"daily_calls": 60})
    assert changed.daily_calls == 60 and registry.get_config("a")["autopilot"]["version"] == POLICY_VERSION


@pytest.mark.parametrize("version", [POLICY_VERSION + 1, "1", 1.5, -1])
def test_a_stored_policy_of_a_version_this_release_cannot_read_is_refused_naming_it(registry, version):
    update_policy(registry, "a", {"autonomy": "observe"})
    registry.update_config("a", {"autopilot": {**registry.get_config("a")["autopilot"], "version": version}})
    with pytest.raises(ValueError, match=r"^version: .* is not a policy version this release reads"):
        get_policy(registry, "a")
    assert list_policies(registry) == {}, "listed as unreadable, not as a policy"


def test_a_policy_document_naming_a_bad_field_is_refused_with_the_field(registry):
    with pytest.raises(pydantic.ValidationError, match="daily_calls"):
        policy_to_stored(Policy.model_validate({"daily_calls": -5}))
