"""What the autopilot does next for one prompt: a pure function of the facts a pass gathered.

The pass (``pilot.py``) first analyses a live experiment and feeds the drift detector; when the prompt
has no live experiment, it gathers ``Facts`` and asks ``next_step`` what to do, carries it out, gathers
the facts again and asks again, until the answer is a skip (at most a few rounds: evolve, then start
the experiment of the candidate it produced). The rules, in order:

1. **observe** autonomy: nothing changes; say what would happen (once per state).
2. A **pending candidate** (passed the gate, not yet tested):
   - it was A/B tested before (evolution found the same content again), or its parent no longer
     serves (a rollback, a person's change): it is **stale** and set aside;
   - ``propose`` without approval: **await approval** (once per candidate);
   - ``autonomous``, or approved by a person: **start its A/B test**.
3. **Trigger**: evolve only after a drift alarm, or when the new feedback since the last round reaches
   the policy's minimum; else **wait for feedback** (once per round).
4. **Budget**: a round gets ``min(round budget, what is left today)`` calls and tokens; nothing left
   today: **budget exhausted** (once per day).
5. Else **evolve**.

Nothing here reads a clock or the store: the facts carry the time-dependent figures, so the rules are
tested with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Autonomy", "CandidateFact", "Facts", "Step", "StepKind", "next_step"]


class Autonomy(StrEnum):
    """How far the autopilot may go for a prompt (see ``policy``)."""

    OBSERVE = "observe"
    PROPOSE = "propose"
    AUTONOMOUS = "autonomous"


class StepKind(StrEnum):
    SKIP = "skip"
    AWAIT_APPROVAL = "awaiting_approval"
    STALE_CANDIDATE = "candidate_stale"
    START_EXPERIMENT = "experiment_started"
    BUDGET_EXHAUSTED = "budget_exhausted"
    EVOLVE = "evolve"


@dataclass(frozen=True, slots=True)
class CandidateFact:
    version: str
    parent: str
    approved: bool
    tested_in: int | None = None  # an experiment that already tested this version


@dataclass(frozen=True, slots=True)
class Facts:
    autonomy: Autonomy
    serving: str
    candidate: CandidateFact | None
    new_feedback: int
    min_feedback: int
    drift_pending: bool
    day: str
    calls_left: int
    tokens_left: int | None  # None: no token limit
    round_calls: int
    round_tokens: int | None
    rounds: int  # evolution rounds so far (part of the wait key: one entry per round)


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    reason: str
    key: str | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)
    calls: int = 0
    tokens: int | None = None


def next_step(facts: Facts) -> Step:
    """The next step for a prompt without a live experiment (see the module docstring)."""
    if facts.autonomy is Autonomy.OBSERVE:
        return _observe(facts)
    candidate = facts.candidate
    if candidate is not None:
        return _candidate_step(facts, candidate)
    trigger = _trigger(facts)
    if trigger is None:
        return Step(
            StepKind.SKIP,
            f"waiting for feedback: {facts.new_feedback} executions with new feedback since the last "
            f"round, {facts.min_feedback} needed",
            key=f"wait_feedback:{facts.rounds}",
            figures={"new_feedback": facts.new_feedback, "min_feedback": facts.min_feedback},
        )
    return _budgeted_round(facts, trigger)


def _observe(facts: Facts) -> Step:
    trigger = _trigger(facts)
    if facts.candidate is not None:
        would = f"would start an A/B test of {facts.candidate.version} against {facts.serving}"
    elif trigger is not None:
        would = f"would evolve ({trigger})"
    else:
        would = f"would wait for feedback ({facts.new_feedback}/{facts.min_feedback})"
    return Step(
        StepKind.SKIP,
        f"observe only: {would}",
        key=f"observe:{would.split(' (')[0]}:{facts.rounds}",
        figures={"new_feedback": facts.new_feedback, "drift_pending": facts.drift_pending},
    )


def _candidate_step(facts: Facts, candidate: CandidateFact) -> Step:
    figures = {"candidate": candidate.version, "parent": candidate.parent, "serving": facts.serving}
    if candidate.tested_in is not None:
        return Step(
            StepKind.STALE_CANDIDATE,
            f"candidate {candidate.version} was already A/B tested (experiment {candidate.tested_in}): "
            "set aside, a variant is tested once",
            figures={**figures, "experiment": candidate.tested_in},
        )
    if candidate.parent != facts.serving:
        return Step(
            StepKind.STALE_CANDIDATE,
            f"candidate {candidate.version} was evolved from {candidate.parent}, but {facts.serving} "
            "serves now: set aside (its evidence compares it with a variant that no longer serves)",
            figures=figures,
        )
    if facts.autonomy is Autonomy.PROPOSE and not candidate.approved:
        return Step(
            StepKind.AWAIT_APPROVAL,
            f"candidate {candidate.version} passed the held-out gate: waiting for a person's approval "
            f"(`promptevolve autopilot approve <prompt> {candidate.version}`)",
            key=f"await:{candidate.version}",
            figures=figures,
        )
    how = "approved by a person" if candidate.approved else "autonomous policy"
    return Step(
        StepKind.START_EXPERIMENT,
        f"A/B test of {candidate.version} against {facts.serving} ({how})",
        figures=figures,
    )


def _trigger(facts: Facts) -> str | None:
    if facts.drift_pending:
        return "a drift alarm"
    if facts.new_feedback >= facts.min_feedback:
        return (
            f"{facts.new_feedback} executions with new feedback since the last round "
            f"(>= {facts.min_feedback})"
        )
    return None


def _budgeted_round(facts: Facts, trigger: str) -> Step:
    calls = min(facts.round_calls, facts.calls_left)
    limits = [x for x in (facts.round_tokens, facts.tokens_left) if x is not None]
    tokens = min(limits) if limits else None
    figures = {
        "trigger": trigger,
        "calls_left": facts.calls_left,
        "tokens_left": facts.tokens_left,
        "new_feedback": facts.new_feedback,
    }
    if calls < 1 or (tokens is not None and tokens < 1):
        return Step(
            StepKind.BUDGET_EXHAUSTED,
            f"evolution due ({trigger}), but today's budget is spent "
            f"({facts.calls_left} calls, {_tokens(facts.tokens_left)} tokens left)",
            key=f"budget:{facts.day}",
            figures=figures,
        )
    return Step(
        StepKind.EVOLVE,
        f"evolving: {trigger}; budget {calls} calls, {_tokens(tokens)} tokens",
        figures={**figures, "budget_calls": calls, "budget_tokens": tokens},
        calls=calls,
        tokens=tokens,
    )


def _tokens(value: int | None) -> str:
    return "unlimited" if value is None else str(value)
