"""The next-step rules, pure: autonomy, candidates, triggers and the budget, from plain facts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptevolve.autopilot.decide import Autonomy, CandidateFact, Facts, StepKind, next_step

FACTS = Facts(
    autonomy=Autonomy.AUTONOMOUS,
    serving="1.0.0",
    candidate=None,
    new_feedback=120,
    min_feedback=100,
    drift_pending=False,
    day="2026-11-26",
    calls_left=300,
    tokens_left=None,
    round_calls=200,
    round_tokens=None,
    rounds=2,
)


def test_enough_feedback_evolves_with_the_round_budget():
    step = next_step(FACTS)
    assert step.kind is StepKind.EVOLVE and step.calls == 200 and step.tokens is None
    assert "120 executions with new feedback" in step.reason


def test_too_little_feedback_waits_with_a_key_per_round():
    step = next_step(replace(FACTS, new_feedback=10))
    assert step.kind is StepKind.SKIP and step.key == "wait_feedback:2"
    assert "10 executions with new feedback" in step.reason


def test_a_drift_alarm_evolves_without_feedback():
    step = next_step(replace(FACTS, new_feedback=0, drift_pending=True))
    assert step.kind is StepKind.EVOLVE and step.figures["trigger"] == "a drift alarm"


def test_observe_only_says_what_it_would_do():
    step = next_step(replace(FACTS, autonomy=Autonomy.OBSERVE))
    assert step.kind is StepKind.SKIP and step.reason.startswith("observe only: would evolve")


@pytest.mark.parametrize(
    ("autonomy", "approved", "kind"),
    [
        (Autonomy.PROPOSE, False, StepKind.AWAIT_APPROVAL),
        (Autonomy.PROPOSE, True, StepKind.START_EXPERIMENT),
        (Autonomy.AUTONOMOUS, False, StepKind.START_EXPERIMENT),
    ],
)
def test_a_gated_candidate_waits_for_approval_only_under_propose(autonomy, approved, kind):
    facts = replace(FACTS, autonomy=autonomy, candidate=CandidateFact("1.1.0", "1.0.0", approved))
    assert next_step(facts).kind is kind


def test_a_candidate_whose_parent_no_longer_serves_is_stale():
    facts = replace(FACTS, candidate=CandidateFact("1.1.0", "0.9.0", True))
    assert next_step(facts).kind is StepKind.STALE_CANDIDATE


def test_an_empty_budget_is_reported_once_a_day():
    step = next_step(replace(FACTS, calls_left=0))
    assert step.kind is StepKind.BUDGET_EXHAUSTED and step.key == "budget:2026-11-26"
    assert next_step(replace(FACTS, tokens_left=0)).kind is StepKind.BUDGET_EXHAUSTED


@given(
    calls_left=st.integers(0, 10_000),
    round_calls=st.integers(1, 10_000),
    tokens_left=st.none() | st.integers(0, 10**7),
    round_tokens=st.none() | st.integers(1, 10**7),
)
def test_a_round_never_gets_more_than_is_left_or_than_a_round_may_take(
    calls_left, round_calls, tokens_left, round_tokens
):
    facts = replace(
        FACTS,
        calls_left=calls_left,
        round_calls=round_calls,
        tokens_left=tokens_left,
        round_tokens=round_tokens,
    )
    step = next_step(facts)
    if step.kind is StepKind.EVOLVE:
        assert 1 <= step.calls <= min(calls_left, round_calls)
        for limit in (tokens_left, round_tokens):
            assert limit is None or (step.tokens is not None and step.tokens <= limit)
    else:
        assert step.kind is StepKind.BUDGET_EXHAUSTED
        assert calls_left == 0 or tokens_left == 0
