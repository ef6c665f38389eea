"""Safe rollout: the traffic shares of each ramp step, when a step may be left, and bandit shares (pure).

An A/B experiment moves its treatments up a **ladder** of traffic shares (default 1 → 5 → 10 → 25 →
50 → 100 %) in two stretches, with every guardrail checked at every look:

1. **Ramp-up** (status ``ramping``, no winner yet): each treatment takes ``min(ladder step, its test
   share)`` and the control the rest. When every treatment has reached its test share (50 % for a
   50/50 test), the ramp-up is complete: the status becomes ``running`` and the measurement of the
   primary metric starts at that moment. Data from the ramp-up feed the guardrails only, because the
   shares changed while they were collected (comparing arms across changing shares is biased when the
   metric drifts in time, Simpson's paradox).
2. **Winner ramp** (status ``ramping`` with a winner): the winner climbs the ladder steps above its test
   share, the losing treatments get 0 and the control the rest; reaching 100 % is the promotion. With a
   50/50 test the next step *is* 100 %, so a winner is promoted at once.

A step is left when the treatments (the winner, in the second stretch) have each seen at least
``min_units_per_step`` units since the step began and ``min_seconds_per_step`` have passed
(``step_ready``); the decision rule also requires no sample-ratio mismatch and every guardrail shown
within 1.5 times its tolerance (``decide.py``). Harm rolls back at any time. An empty ladder skips both
stretches: the test starts at its test shares and a winner is promoted directly.

Shares are integers in basis points that always sum to 10,000; weights are turned into basis points by
the largest-remainder method, so rounding never loses or creates traffic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from promptevolve.experiments.plan import FULL_BP, Plan, State

__all__ = [
    "equal_shares",
    "live_treatments",
    "percent_to_bp",
    "ramp_up_complete",
    "ramp_up_shares",
    "step_ready",
    "target_shares",
    "weights_to_bp",
    "winner_shares",
    "winner_step_after",
]


def percent_to_bp(percent: float) -> int:
    return round(percent * 100)


def weights_to_bp(weights: Mapping[str, float]) -> dict[str, int]:
    """Non-negative weights → basis points summing to 10,000 (largest remainder, ties by order)."""
    total = sum(weights.values())
    if not total > 0:
        raise ValueError("weights must have a positive sum")
    exact = {k: FULL_BP * w / total for k, w in weights.items()}
    bp = {k: math.floor(v) for k, v in exact.items()}
    left = FULL_BP - sum(bp.values())
    for k in sorted(exact, key=lambda k: exact[k] - bp[k], reverse=True)[:left]:
        bp[k] += 1
    return bp


def equal_shares(arms: Sequence[str]) -> dict[str, int]:
    return weights_to_bp(dict.fromkeys(arms, 1.0))


def live_treatments(plan: Plan, state: State) -> tuple[str, ...]:
    return tuple(t for t in plan.treatments if t not in state.dropped)


def _with_control(plan: Plan, treatments: Mapping[str, int]) -> dict[str, int]:
    shares = dict.fromkeys(plan.arms, 0)
    shares.update(treatments)
    shares[plan.control] = FULL_BP - sum(treatments.values())
    return shares


def target_shares(plan: Plan, dropped: Sequence[str] = ()) -> dict[str, int]:
    """The test shares; a dropped treatment's share goes to the control."""
    return _with_control(plan, {t: plan.test_shares_bp[t] for t in plan.treatments if t not in dropped})


def ramp_up_shares(plan: Plan, step: int, dropped: Sequence[str] = ()) -> dict[str, int]:
    """Shares at ramp-up ``step``: each live treatment at ``min(ladder[step], test share)``."""
    if step >= len(plan.ladder_bp):
        return target_shares(plan, dropped)
    rung = plan.ladder_bp[step]
    live = {t: min(rung, plan.test_shares_bp[t]) for t in plan.treatments if t not in dropped}
    return _with_control(plan, live)


def ramp_up_complete(plan: Plan, step: int, dropped: Sequence[str] = ()) -> bool:
    return ramp_up_shares(plan, step, dropped) == target_shares(plan, dropped)


def winner_step_after(plan: Plan, share_bp: int) -> int | None:
    """Index of the first ladder step above ``share_bp`` below 100 %; ``None``: next is promotion."""
    for i, rung in enumerate(plan.ladder_bp):
        if share_bp < rung < FULL_BP:
            return i
    return None


def winner_shares(plan: Plan, winner: str, share_bp: int) -> dict[str, int]:
    """The winner at ``share_bp``, the other treatments at 0, the control the rest."""
    return _with_control(plan, {winner: share_bp})


def step_ready(
    plan: Plan, state: State, units: Mapping[str, int], arms: Sequence[str], now: float
) -> tuple[bool, str]:
    """Whether the current step has lasted long enough for ``arms``; and if not, what it waits for."""
    since = state.phase_since if state.phase_since is not None else now
    waited = now - since
    short = {a: units.get(a, 0) for a in arms if units.get(a, 0) < plan.min_units_per_step}
    if short:
        listing = ", ".join(f"{a} {n}/{plan.min_units_per_step}" for a, n in short.items())
        return False, f"units in this step: {listing}"
    if waited < plan.min_seconds_per_step:
        return False, f"step has lasted {waited:.0f} of {plan.min_seconds_per_step:.0f} s"
    return True, "step complete"
