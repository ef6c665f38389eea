"""Leases and the budget ledger in the store (SQLite and PostgreSQL): one holder at a time, a crashed
holder's lease expires, and rounds never spend more than a day allows, over many passes and days."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from tests.autopilot.support import make_world, set_policy

from promptevolve.autopilot import budget
from promptevolve.autopilot.leases import acquire, held, read_lease, release, renew
from promptevolve.core.protocols import ManualClock
from promptevolve.core.statuses import LIVE, sql_values
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.tables import AutopilotBudget, Decision, Experiment, Prompt


@pytest.fixture
def prompt_id(store) -> int:
    Registry(store, actor="test").register(VariantCreate(prompt="p", template="Hi {{ x }}"))
    with store.read() as s:
        return s.scalar(select(Prompt.id).where(Prompt.name == "p"))


def test_one_holder_at_a_time_and_a_crashed_holders_lease_expires(store, prompt_id):
    assert acquire(store, prompt_id, "a", now=1000.0, ttl_s=60, phase="evolving")
    assert not acquire(store, prompt_id, "b", now=1030.0, ttl_s=60), "a holds it"
    assert acquire(store, prompt_id, "a", now=1030.0, ttl_s=60), "a holder may take its own lease again"
    assert renew(store, prompt_id, "a", now=1080.0, ttl_s=60)
    assert not acquire(store, prompt_id, "b", now=1130.0, ttl_s=60), "renewed until 1140"
    assert acquire(store, prompt_id, "b", now=1141.0, ttl_s=60), "a crashed: its lease expired"
    assert not renew(store, prompt_id, "a", now=1142.0, ttl_s=60), "a learns it lost the lease"
    release(store, prompt_id, "a")
    assert read_lease(store, prompt_id).holder == "b", "releasing someone else's lease does nothing"
    release(store, prompt_id, "b")
    assert read_lease(store, prompt_id) is None


def test_a_held_lease_is_renewed_while_the_work_runs_and_released_after(store, prompt_id):
    clock = ManualClock(5000.0)
    with held(store, prompt_id, "me", clock=clock, ttl_s=0.3) as lease:
        assert lease is not None
        lease.phase("evolving")
        assert read_lease(store, prompt_id).phase == "evolving"
        clock.advance(0.25)
        threading.Event().wait(0.35)  # the heartbeat renews at ttl / 3
        assert read_lease(store, prompt_id).expires_at > clock.now()
        with held(store, prompt_id, "other", clock=clock, ttl_s=0.3) as other:
            assert other is None
    assert read_lease(store, prompt_id) is None


def test_grants_never_exceed_what_is_left_and_unused_calls_come_back(store, prompt_id):
    day = "2026-11-26"
    first = budget.reserve(store, prompt_id, day, calls=80, tokens=None, daily_calls=100, daily_tokens=None)
    second = budget.reserve(store, prompt_id, day, calls=80, tokens=None, daily_calls=100, daily_tokens=None)
    assert (first.calls, second.calls) == (80, 20)
    assert (
        budget.reserve(store, prompt_id, day, calls=5, tokens=None, daily_calls=100, daily_tokens=None)
        is None
    )
    budget.settle(store, first, calls=50, tokens=900)
    assert budget.usage(store, prompt_id, day) == budget.Usage(day, 70, 900, 2)
    tokens = budget.reserve(store, prompt_id, day, calls=30, tokens=500, daily_calls=100, daily_tokens=1000)
    assert (tokens.calls, tokens.tokens) == (30, 100), "the token limit binds"
    assert budget.usage(store, prompt_id, "2026-11-27").calls == 0, "a new day, a new budget"


@pytest.mark.parametrize(("daily_calls", "daily_tokens"), [(150, None), (420, 9000)])
def test_repeated_passes_over_several_days_never_spend_more_than_the_policy_allows(
    store, daily_calls, daily_tokens
):
    world = make_world(store)
    try:
        set_policy(
            world,
            "autonomous",
            daily_calls=daily_calls,
            daily_tokens=daily_tokens,
            evolution={"min_feedback": 30, "round_calls": 140},
            experiment={"min_sample": 10**6},  # experiments never end: rounds only between them
        )
        clock = ManualClock(datetime(2026, 11, 26, 8, 0, tzinfo=UTC).timestamp())
        autopilot = world.autopilot(clock=clock)
        spent_before = 0
        for _ in range(6):
            world.traffic(60)
            autopilot.run_once()
            with store.read() as s:
                live = s.scalars(select(Experiment.id).where(Experiment.status.in_(sql_values(LIVE)))).all()
            for exp_id in live:  # a person stops each test, so rounds go on
                autopilot.experiments.stop(exp_id, reason="test", actor="test")
            clock.advance(8 * 3600)
            assert world.evolution_provider.call_count >= spent_before
            spent_before = world.evolution_provider.call_count
        with store.read() as s:
            ledger = s.scalars(select(AutopilotBudget)).all()
            rounds = s.scalars(select(Decision).where(Decision.action == "evolved")).all()
        assert rounds, "some rounds ran"
        assert all(row.calls <= daily_calls for row in ledger)
        assert daily_tokens is None or all(row.tokens <= daily_tokens for row in ledger)
        assert sum(row.calls for row in ledger) == world.evolution_provider.call_count, "the ledger is exact"
        assert sum(r.figures["calls"] for r in rounds) == world.evolution_provider.call_count
        assert len(ledger) >= 2, "the passes spanned several budget days"
    finally:
        world.close()
