"""The comparisons of one look (pure): guardrails, the primary metric and the sample ratio.

``decide.py`` turns them into decisions; here they are only measured. Each comparison updates its
``Tracker`` (``plan.py``): the running intersection of the intervals and the running minima of the
directional p-values, which are the always-valid interval and p-values of the experiment when the
procedure is always valid (for ``fixed`` and ``bayesian`` the tracker holds the current look only).

- **Guardrails** compare each guarded treatment (the live treatments, or the winner being ramped) with
  the control by the confidence sequence at ``guardrail_alpha / m``, once both arms have
  ``guardrail_min_units`` units; ``p_harm`` is the p-value of "worse by exactly the tolerance", counted
  only when the estimate lies beyond it; Holm across the treatments decides ``harmed``.
- **Primary**: the live treatments against the control by the plan's procedure at ``alpha / m`` over
  the measurement window, Holm on the running p-values of "better".
- **SRM**: χ² of the units exposed in the current phase against the current shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from promptevolve.experiments.plan import Guardrail, Plan, State, Tracker
from promptevolve.experiments.procedures import (
    ALWAYS_VALID,
    Comparison,
    Procedure,
    TestSettings,
    compare,
    directional_p,
)
from promptevolve.experiments.rollout import live_treatments
from promptevolve.stats import ArmStats, SampleStats, SrmResult, holm, srm_test

__all__ = [
    "EMPTY",
    "GuardrailLook",
    "Observation",
    "PrimaryLook",
    "guarded_arms",
    "guardrail_looks",
    "harm_bound",
    "primary_looks",
    "srm_check",
    "track",
    "with_guardrail_trackers",
]

#: The statistics of an arm with no data.
EMPTY = SampleStats(0, 0.0, 0.0)


@dataclass(frozen=True)
class Observation:
    """What the store measured for this look: units exposed per arm in the current phase (after the
    grace period), the primary metric per arm over the measurement window, and each guardrail metric
    per arm since the start."""

    units: Mapping[str, int]
    primary: Mapping[str, ArmStats]
    guardrails: Mapping[str, Mapping[str, ArmStats]]


@dataclass(frozen=True)
class GuardrailLook:
    metric: str
    arm: str
    comparison: Comparison
    tracker: Tracker
    p_adjusted: float
    harmed: bool
    units: tuple[int, int] = (0, 0)  # (control, arm) units measured on the metric


@dataclass(frozen=True)
class PrimaryLook:
    comparison: Comparison
    tracker: Tracker
    p_adjusted: float


def track(old: Tracker | None, c: Comparison, settings: TestSettings, sign: int, accumulate: bool) -> Tracker:
    if not c.ok:
        return old or Tracker()
    better = directional_p(c, settings, side=sign)
    worse = directional_p(c, settings, side=-sign)
    if old is None or not accumulate:
        return Tracker(1, c.ci_low, c.ci_high, better, worse)
    return Tracker(
        old.looks + 1,
        max(old.low, c.ci_low),
        min(old.high, c.ci_high),
        min(old.p_better, better),
        min(old.p_worse, worse),
        old.p_harm,
    )


def guarded_arms(plan: Plan, state: State) -> tuple[str, ...]:
    if state.winner is not None:
        return (state.winner,)
    return live_treatments(plan, state)


def _check_guardrail(
    plan: Plan, state: State, obs: Observation, g: Guardrail, arms: Sequence[str]
) -> list[GuardrailLook]:
    settings = TestSettings(Procedure.SEQUENTIAL, plan.guardrail_alpha / len(arms), g.relative, plan.tuning)
    stats = obs.guardrails.get(g.metric, {})
    control = stats.get(plan.control, EMPTY)
    sign = g.spec.sign
    old = state.guardrails.get(g.metric, {})
    looks = []
    for arm in arms:
        mine = stats.get(arm, EMPTY)
        units = (int(control.n), int(mine.n))
        if min(units) < plan.guardrail_min_units:  # asymptotic tests need some units
            looks.append((arm, compare(EMPTY, EMPTY, settings), old.get(arm) or Tracker(), units))
            continue
        c = compare(control, mine, settings)
        tracker = track(old.get(arm), c, settings, sign, accumulate=True)
        harm = directional_p(c, settings, null=-sign * g.tolerance, side=-sign)
        looks.append((arm, c, replace(tracker, p_harm=min(tracker.p_harm, harm)), units))
    adjusted = holm([t.p_harm for _, _, t, _ in looks])
    return [
        GuardrailLook(g.metric, arm, c, t, float(p), bool(p < plan.guardrail_alpha), units)
        for (arm, c, t, units), p in zip(looks, adjusted, strict=True)
    ]


def guardrail_looks(plan: Plan, state: State, obs: Observation) -> tuple[GuardrailLook, ...]:
    arms = guarded_arms(plan, state)
    if not arms:
        return ()
    return tuple(g for rail in plan.guardrails for g in _check_guardrail(plan, state, obs, rail, arms))


def with_guardrail_trackers(state: State, looks: Sequence[GuardrailLook]) -> State:
    trackers = {metric: dict(arms) for metric, arms in state.guardrails.items()}
    for g in looks:
        trackers.setdefault(g.metric, {})[g.arm] = g.tracker
    return replace(state, guardrails=trackers)


def srm_check(plan: Plan, state: State, obs: Observation) -> SrmResult | None:
    arms = [a for a in plan.arms if state.shares_bp.get(a, 0) > 0 or obs.units.get(a, 0) > 0]
    counts = [obs.units.get(a, 0) for a in arms]
    if sum(counts) == 0 or len(arms) < 2:
        return None
    return srm_test(counts, [state.shares_bp.get(a, 0) for a in arms])


def primary_looks(plan: Plan, state: State, obs: Observation) -> dict[str, PrimaryLook]:
    """Live treatments against the control on the primary metric; trackers updated; Holm on p-better."""
    arms = live_treatments(plan, state)
    if state.measure_since is None or not arms:
        return {}
    settings = TestSettings(plan.procedure, plan.alpha / len(arms), plan.relative, plan.tuning, plan.tau_sq)
    control = obs.primary.get(plan.control, EMPTY)
    accumulate = plan.procedure in ALWAYS_VALID
    pairs = {}
    for arm in arms:
        c = compare(control, obs.primary.get(arm, EMPTY), settings)
        pairs[arm] = (c, track(state.primary.get(arm), c, settings, plan.spec.sign, accumulate))
    adjusted = holm([t.p_better for _, t in pairs.values()])
    return {
        arm: PrimaryLook(c, t, float(p)) for (arm, (c, t)), p in zip(pairs.items(), adjusted, strict=True)
    }


def harm_bound(g: GuardrailLook, rail: Guardrail) -> float:
    """The always-valid bound on how much worse than control the arm may be (harmful side)."""
    return g.tracker.high if rail.spec.sign < 0 else -g.tracker.low
