"""The decision rule: from a plan, a state and this look's sums to the next state (pure).

``decide(plan, state, observation, now=…, rng=…)`` does no I/O and reads no clock: the service gives it
the sums it read from the store under a lock and persists the ``Outcome``; the rollout simulation
(``bench/rollout_sim.py``) drives the very same function with simulated sums. In order, at each look of
an experiment that routes traffic:

1. **Guardrails** (every look, every stage, also in bandit mode). For each guardrail metric and each
   live treatment with at least ``guardrail_min_units`` units in both arms (the asymptotic tests are
   unreliable below), the confidence sequence at ``guardrail_alpha / m`` (``m`` treatments) tests the
   null "worse than control by exactly the tolerance"; its running minimum p-value over the looks in
   which the estimate was beyond the tolerance, Holm-adjusted across the treatments, below
   ``guardrail_alpha`` means **harm**. Guardrails always use the confidence sequence, whatever the
   primary procedure, because they are read at every look. A harmed treatment is dropped (its share
   goes to the control); when no treatment is left, or the harmed one is the winner being ramped, the
   experiment is **rolled back**.
2. **Sample-ratio mismatch** on the units exposed since the current shares took effect (after a grace
   period for caches that still route by the old shares): χ² p < 0.001 blocks every decision below.
3. **Bandit mode**: Thompson sampling (normal posteriors of the primary metric, floored) sets the shares
   once every live arm has ``bandit_min_units`` units; shares change only when an arm moves by at least
   ``bandit_min_change_bp``, so Monte Carlo noise does not churn the router.
4. **Ramp steps** (``rollout.py``): a step is left when it has lasted ``min_units_per_step`` units per
   treatment and ``min_seconds_per_step``, *and* every guardrail's always-valid interval shows the harm
   is below ``step_margin`` × its tolerance (1.5 × by default: a non-inferiority gate). Absence of
   evidence is not enough to give a variant more traffic: a variant whose true harm is at least the
   margin passes a step with probability at most about ``guardrail_alpha``, however long it waits, and
   is rolled back once its harm is shown beyond the tolerance.
5. **Measurement** (status ``running``), with ``m`` live treatments, each compared with the control at
   ``alpha / m`` by the plan's procedure:

   - nothing is decided until every live arm has ``min_sample`` units;
   - **winner**: the Holm-adjusted running-minimum p-value of "better" below ``alpha`` (for the Bayesian
     procedure: chance to win above ``1 − alpha``); the best estimate wins among several. It then climbs
     the rest of the ladder, or is promoted at once;
   - a treatment significantly **worse** is dropped; when all are, the control stays (``control_better``);
   - **no difference**: every live treatment's always-valid interval lies inside ``(−mde, +mde)``;
   - ``fixed`` procedure: the first look at the planned sample size is final; without a winner it
     concludes ``no_difference`` or ``inconclusive``.

Every change of state comes with ``Note``s (action, reason, figures) for the decision log; a look that
changes nothing but the trackers has none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from promptevolve.core.statuses import ROUTING, ExperimentStatus
from promptevolve.experiments.looks import (
    EMPTY,
    GuardrailLook,
    Observation,
    PrimaryLook,
    guardrail_looks,
    harm_bound,
    primary_looks,
    srm_check,
    with_guardrail_trackers,
)
from promptevolve.experiments.plan import (
    FULL_BP,
    Mode,
    Plan,
    State,
    Tracker,
)
from promptevolve.experiments.procedures import (
    Comparison,
    Procedure,
)
from promptevolve.experiments.rollout import (
    live_treatments,
    ramp_up_complete,
    ramp_up_shares,
    step_ready,
    target_shares,
    weights_to_bp,
    winner_shares,
    winner_step_after,
)
from promptevolve.routing.bandit import thompson_weights_normal
from promptevolve.stats import ArmStats, SrmResult, Status, holm

__all__ = ["ArmLook", "GuardrailLook", "Note", "Observation", "Outcome", "decide", "on_scale"]

_S = ExperimentStatus


@dataclass(frozen=True)
class Note:
    """One entry for the decision log."""

    action: str
    reason: str
    figures: Mapping[str, Any]


@dataclass(frozen=True)
class ArmLook:
    """One arm at one look; ``primary`` compares it with the control (``None`` for the control)."""

    arm: str
    share_bp: int
    exposed: int
    stats: ArmStats
    primary: PrimaryLook | None
    probability_best: float | None
    guardrails: tuple[GuardrailLook, ...]


@dataclass(frozen=True)
class Outcome:
    """The next state, a one-word verdict with its reason, the notes to log, and this look's figures."""

    state: State
    verdict: str
    reason: str
    notes: tuple[Note, ...]
    arms: tuple[ArmLook, ...]
    srm: SrmResult | None

    @property
    def changed(self) -> bool:
        return bool(self.notes)


@dataclass(frozen=True)
class _Look:
    """What the steps of one look share."""

    plan: Plan
    obs: Observation
    now: float
    guardrails: tuple[GuardrailLook, ...] = ()
    primary: Mapping[str, PrimaryLook] | None = None
    srm: SrmResult | None = None
    probability_best: Mapping[str, float] | None = None


# --- comparisons --------------------------------------------------------------------------------------


# --- figures and words --------------------------------------------------------------------------------


def _fmt(value: float, relative: bool) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value * 100:+.2f} %" if relative else f"{value:+.4g}"


def on_scale(
    low: float | None, high: float | None, *, bounded: bool, relative: bool
) -> tuple[float | None, float | None]:
    """An interval of a lift cut to the values the lift can take.

    Every metric here is non-negative, so a relative lift is at least −100 %; a difference of two means
    of a metric in [0, 1] lies in [−1, 1]. Intersecting a confidence set with the parameter space keeps
    its coverage, and early sequential intervals (a few units per arm) otherwise read as nonsense such
    as [−2.16, +1.95] for a score in [0, 1]. ``None`` (no bound yet) stays ``None``.
    """
    floor, ceiling = (-1.0, None) if relative else ((-1.0, 1.0) if bounded else (None, None))
    if low is not None and floor is not None:
        low = max(low, floor)
    if high is not None and ceiling is not None:
        high = min(high, ceiling)
    return low, high


def _interval(t: Tracker, relative: bool, bounded: bool = False) -> str:
    low, high = on_scale(t.low, t.high, bounded=bounded, relative=relative)
    shown = (_fmt(math.nan if v is None else v, relative) for v in (low, high))
    return "[{}, {}]".format(*shown)


def _pct(bp: int) -> str:
    return f"{bp / 100:g} %"


def _lift_figures(c: Comparison, t: Tracker) -> dict[str, Any]:
    return {
        "estimate": c.estimate,
        "ci_low": t.low,
        "ci_high": t.high,
        "p_look": c.p_value,
        "p_better": t.p_better,
        "p_worse": t.p_worse,
        "chance_to_win": c.chance_to_win,
        "looks": t.looks,
    }


def _figures(look: _Look, before: State, after: State, **extra: Any) -> dict[str, Any]:
    arms: dict[str, Any] = {}
    for arm in look.plan.arms:
        stats = look.obs.primary.get(arm, EMPTY)
        entry: dict[str, Any] = {"units": stats.n, "mean": stats.mean, "exposed": look.obs.units.get(arm, 0)}
        if look.primary and arm in look.primary:
            p = look.primary[arm]
            entry.update(_lift_figures(p.comparison, p.tracker), p_adjusted=p.p_adjusted)
        if look.probability_best and arm in look.probability_best:
            entry["probability_best"] = look.probability_best[arm]
        arms[arm] = entry
    guardrails = [
        {"metric": g.metric, "arm": g.arm, "p_harm": g.p_adjusted, "harmed": g.harmed}
        | _lift_figures(g.comparison, g.tracker)
        for g in look.guardrails
    ]
    return {
        "metric": look.plan.metric,
        "procedure": look.plan.procedure.value,
        "relative": look.plan.relative,
        "alpha": look.plan.alpha,
        "mde": look.plan.mde,
        "min_sample": look.plan.min_sample,
        "status_before": before.status.value,
        "status_after": after.status.value,
        "shares_before_bp": dict(before.shares_bp),
        "shares_after_bp": dict(after.shares_bp),
        "srm_p": look.srm.p_value if look.srm else None,
        "arms": arms,
        "guardrails": guardrails,
        **extra,
    }


def _note(look: _Look, before: State, after: State, action: str, reason: str, **extra: Any) -> Note:
    return Note(action, reason, _figures(look, before, after, **extra))


def _harm_words(plan: Plan, g: GuardrailLook) -> str:
    rail = next(x for x in plan.guardrails if x.metric == g.metric)
    tolerance = _fmt(rail.tolerance, rail.relative).lstrip("+")
    return (
        f"{g.metric} of {g.arm} is worse than control beyond its {tolerance} tolerance: "
        f"{_fmt(g.comparison.estimate, rail.relative)} {_interval(g.tracker, rail.relative)}, "
        f"p = {g.p_adjusted:.2g} (always valid, Holm)"
    )


def _outcome(look: _Look, state: State, verdict: str, reason: str, notes: Sequence[Note] = ()) -> Outcome:
    arms = tuple(
        ArmLook(
            arm=arm,
            share_bp=state.shares_bp.get(arm, 0),
            exposed=look.obs.units.get(arm, 0),
            stats=look.obs.primary.get(arm, EMPTY),
            primary=(look.primary or {}).get(arm),
            probability_best=(look.probability_best or {}).get(arm),
            guardrails=tuple(g for g in look.guardrails if g.arm == arm),
        )
        for arm in look.plan.arms
    )
    return Outcome(state, verdict, reason, tuple(notes), arms, look.srm)


# --- the steps ----------------------------------------------------------------------------------------


def _end(state: State, status: ExperimentStatus, shares: Mapping[str, int]) -> State:
    return replace(state, status=status, shares_bp=dict(shares))


def _on_harm(look: _Look, state: State, harmed: Sequence[GuardrailLook]) -> Outcome:
    plan = look.plan
    arms = sorted({g.arm for g in harmed})
    reasons = "; ".join(_harm_words(plan, g) for g in harmed)
    remaining = [t for t in live_treatments(plan, state) if t not in arms]
    where = f"at {_pct(max(state.shares_bp.get(a, 0) for a in arms))}"
    if state.winner in arms or not remaining:
        control_only = {a: (FULL_BP if a == plan.control else 0) for a in plan.arms}
        after = replace(_end(state, _S.ROLLED_BACK, control_only), phase_since=look.now)
        reason = f"rolled back {where}: {reasons}"
        return _outcome(look, after, "rolled_back", reason, [_note(look, state, after, "rollback", reason)])
    dropped = (*state.dropped, *arms)
    if plan.mode is Mode.BANDIT:
        shares = weights_to_bp({a: float(state.shares_bp.get(a, 0)) for a in plan.arms if a not in dropped})
    elif state.status is _S.RAMPING:
        shares = ramp_up_shares(plan, state.step or 0, dropped)
    else:
        shares = target_shares(plan, dropped)
    after = replace(
        state, dropped=dropped, shares_bp={a: shares.get(a, 0) for a in plan.arms}, phase_since=look.now
    )
    reason = f"dropped {', '.join(arms)} {where}: {reasons}"
    return _outcome(look, after, "dropped", reason, [_note(look, state, after, "drop_arm", reason)])


def _srm_gate(look: _Look, state: State) -> tuple[State, list[Note], Outcome | None]:
    srm = look.srm
    if srm is not None and srm.blocks:
        counts = ", ".join(f"{a} {look.obs.units.get(a, 0)}" for a in look.plan.arms)
        expected = ", ".join(f"{a} {_pct(state.shares_bp.get(a, 0))}" for a in look.plan.arms)
        reason = (
            f"sample-ratio mismatch blocks every decision: units {counts} against shares {expected}, "
            f"χ² p = {srm.p_value:.2g} < 0.001; look for lost exposures or failing routing"
        )
        if state.srm_blocked:
            return state, [], _outcome(look, state, "srm_blocked", reason)
        after = replace(state, srm_blocked=True)
        return (
            after,
            [],
            _outcome(look, after, "srm_blocked", reason, [_note(look, state, after, "srm_blocked", reason)]),
        )
    if state.srm_blocked:
        after = replace(state, srm_blocked=False)
        p = "n/a" if srm is None else f"{srm.p_value:.2g}"
        note = _note(look, state, after, "srm_cleared", f"sample ratio matches the shares again (p = {p})")
        return after, [note], None
    return state, [], None


def _guardrails_clear(look: _Look, arms: Sequence[str]) -> str | None:
    """``None`` when every guardrail shows harm below ``step_margin`` × tolerance for ``arms``; else
    what the step waits for. A comparison the data cannot make (constant arms, a relative lift over a
    control mean of 0) or a metric that no call measures (cost of a model without a price) shows no
    harm; too few units are waited for; a tolerance of 0 has no margin."""
    rails = {g.metric: g for g in look.plan.guardrails}
    for g in look.guardrails:
        rail = rails[g.metric]
        if g.arm not in arms or rail.tolerance <= 0:
            continue
        if g.comparison.status in (Status.ZERO_VARIANCE, Status.ZERO_BASELINE) or g.units == (0, 0):
            continue
        margin = look.plan.step_margin * rail.tolerance
        bound = harm_bound(g, rail)
        if not bound < margin:
            shown = "not yet measurable" if not math.isfinite(bound) else _fmt(bound, rail.relative)
            limit = _fmt(margin, rail.relative).lstrip("+")
            return f"{g.metric} of {g.arm} to show harm below {limit} (bound now {shown})"
    return None


def _step_gate(look: _Look, state: State, arms: Sequence[str]) -> tuple[bool, str]:
    ready, waiting = step_ready(look.plan, state, look.obs.units, arms, look.now)
    if not ready:
        return False, waiting
    unclear = _guardrails_clear(look, arms)
    return (False, unclear) if unclear else (True, waiting)


def _ramp_up(look: _Look, state: State, notes: list[Note]) -> Outcome:
    plan = look.plan
    step = state.step or 0
    ready, waiting = _step_gate(look, state, live_treatments(plan, state))
    shares_now = ", ".join(f"{a} {_pct(state.shares_bp.get(a, 0))}" for a in live_treatments(plan, state))
    if not ready:
        return _outcome(
            look, state, "ramping", f"ramp-up step {step + 1} ({shares_now}): waiting for {waiting}", notes
        )
    shares = ramp_up_shares(plan, step + 1, state.dropped)
    after = replace(state, step=step + 1, shares_bp=shares, phase_since=look.now)
    listing = ", ".join(f"{a} {_pct(shares[a])}" for a in live_treatments(plan, state))
    if ramp_up_complete(plan, step + 1, state.dropped):
        after = replace(after, status=_S.RUNNING, measure_since=look.now)
        reason = f"ramp-up complete, guardrails clear: test shares reached ({listing}); measurement starts"
        return _outcome(
            look, after, "running", reason, [*notes, _note(look, state, after, "measure", reason)]
        )
    reason = f"ramp step {step + 2}: {listing} (guardrails clear, SRM ok, {waiting})"
    return _outcome(look, after, "ramping", reason, [*notes, _note(look, state, after, "ramp_step", reason)])


def _promote(look: _Look, state: State, winner: str, notes: list[Note], why: str) -> Outcome:
    shares = {a: (FULL_BP if a == winner else 0) for a in look.plan.arms}
    after = replace(_end(state, _S.CONCLUDED, shares), winner=winner, phase_since=look.now)
    reason = f"{winner} promoted to 100 %: {why}"
    return _outcome(
        look, after, "promoted", reason, [*notes, _note(look, state, after, "promote", reason, winner=winner)]
    )


def _climb(look: _Look, state: State, winner: str, notes: list[Note], why: str) -> Outcome:
    """Move the winner to the next ladder step, or promote it when the next step is 100 %."""
    current = state.shares_bp.get(winner, 0)
    step = winner_step_after(look.plan, current)
    if step is None:
        return _promote(look, state, winner, notes, why)
    shares = winner_shares(look.plan, winner, look.plan.ladder_bp[step])
    after = replace(
        state, status=_S.RAMPING, winner=winner, step=step, shares_bp=shares, phase_since=look.now
    )
    reason = f"{winner} ramps to {_pct(shares[winner])}: {why}"
    return _outcome(look, after, "ramping", reason, [*notes, _note(look, state, after, "ramp_step", reason)])


def _ramp_winner(look: _Look, state: State, notes: list[Note]) -> Outcome:
    winner = state.winner
    assert winner is not None
    ready, waiting = _step_gate(look, state, (winner,))
    if not ready:
        share = _pct(state.shares_bp.get(winner, 0))
        return _outcome(look, state, "ramping", f"{winner} at {share}: waiting for {waiting}", notes)
    return _climb(
        look, state, winner, notes, f"step at {_pct(state.shares_bp.get(winner, 0))} passed its guardrails"
    )


def _too_small(look: _Look, state: State) -> str | None:
    plan = look.plan
    short = [
        f"{a} {look.obs.primary.get(a, EMPTY).n}"
        for a in (plan.control, *live_treatments(plan, state))
        if look.obs.primary.get(a, EMPTY).n < plan.min_sample
    ]
    return f"waiting for units: {', '.join(short)} of {plan.min_sample} per arm" if short else None


def _winner_words(look: _Look, arm: str) -> str:
    plan, p = look.plan, (look.primary or {})[arm]
    if plan.procedure is Procedure.BAYESIAN:
        evidence = f"chance to win {p.comparison.chance_to_win:.1%}"
    else:
        holm_note = ", Holm" if len(look.primary or {}) > 1 else ""
        evidence = f"p = {p.p_adjusted:.2g} ({plan.procedure.value}{holm_note})"
    srm = f"SRM p = {look.srm.p_value:.2g}" if look.srm else "SRM n/a"
    return (
        f"{plan.metric} {_fmt(p.comparison.estimate, plan.relative)} "
        f"{_interval(p.tracker, plan.relative, plan.spec.bounded)}, "
        f"{evidence}, every arm ≥ {plan.min_sample} units, {srm}, no guardrail harmed"
    )


def _measure(look: _Look, state: State, notes: list[Note]) -> Outcome:
    plan, primary = look.plan, look.primary or {}
    small = _too_small(look, state)
    if small is not None:
        return _outcome(look, state, "collecting", small, notes)
    sign = plan.spec.sign
    winners = [a for a, p in primary.items() if p.p_adjusted < plan.alpha]
    if winners:
        best = max(winners, key=lambda a: sign * primary[a].comparison.estimate)
        why = f"{best} beats control: {_winner_words(look, best)}"
        note = _note(look, state, state, "winner", why, winner=best)
        return _climb(look, state, best, [*notes, note], why)
    worse_p = holm([p.tracker.p_worse for p in primary.values()])
    worse = [a for a, q in zip(primary, worse_p, strict=True) if q < plan.alpha]
    if worse and len(worse) == len(primary):
        shares = {a: (FULL_BP if a == plan.control else 0) for a in plan.arms}
        after = _end(state, _S.CONCLUDED, shares)
        reason = (
            f"control is better than every treatment on {plan.metric}: {', '.join(worse)} significantly worse"
        )
        return _outcome(
            look,
            after,
            "control_better",
            reason,
            [*notes, _note(look, state, after, "control_better", reason)],
        )
    if worse:
        dropped = (*state.dropped, *worse)
        after = replace(state, dropped=dropped, shares_bp=target_shares(plan, dropped), phase_since=look.now)
        reason = f"dropped {', '.join(worse)}: significantly worse than control on {plan.metric}"
        return _outcome(
            look, after, "running", reason, [*notes, _note(look, state, after, "drop_arm", reason)]
        )
    inside = all(-plan.mde < p.tracker.low and p.tracker.high < plan.mde for p in primary.values())
    if inside or plan.procedure is Procedure.FIXED:
        shares = {a: (FULL_BP if a == plan.control else 0) for a in plan.arms}
        after = _end(state, _S.CONCLUDED, shares)
        verdict = "no_difference" if inside else "inconclusive"
        intervals = ", ".join(f"{a} {_interval(p.tracker, plan.relative)}" for a, p in primary.items())
        mde = _fmt(plan.mde, plan.relative).lstrip("+")
        reason = (
            f"no difference on {plan.metric}: every interval lies within ±{mde} ({intervals})"
            if inside
            else f"fixed horizon reached without a significant difference on {plan.metric} ({intervals})"
        )
        return _outcome(look, after, verdict, reason, [*notes, _note(look, state, after, verdict, reason)])
    best = max(primary, key=lambda a: sign * primary[a].comparison.estimate)
    p = primary[best]
    return _outcome(
        look,
        state,
        "running",
        f"no decision yet: best {best} {_fmt(p.comparison.estimate, plan.relative)} "
        f"{_interval(p.tracker, plan.relative, plan.spec.bounded)}, p = {p.p_adjusted:.2g}",
        notes,
    )


def _bandit(look: _Look, state: State, notes: list[Note], rng: np.random.Generator) -> Outcome:
    plan = look.plan
    live = [a for a in plan.arms if a not in state.dropped]
    stats = {a: look.obs.primary.get(a, EMPTY) for a in live}
    short = [f"{a} {s.n}" for a, s in stats.items() if s.n < plan.bandit_min_units]
    if short:
        reason = f"waiting for units: {', '.join(short)} of {plan.bandit_min_units} before the bandit weights"
        return _outcome(look, state, "collecting", reason, notes)
    sign = plan.spec.sign
    means = [sign * s.mean for s in stats.values()]
    errors = [math.sqrt(s.variance / s.n) for s in stats.values()]
    floor = min(plan.bandit_floor, 1.0 / len(live))
    weights = thompson_weights_normal(means, errors, rng=rng, floor=floor)
    best = dict(zip(live, (float(w) for w in weights), strict=True))
    look = replace(look, probability_best={a: (w - floor) / (1 - len(live) * floor) for a, w in best.items()})
    shares = {a: 0 for a in plan.arms} | weights_to_bp(best)
    moved = max(abs(shares[a] - state.shares_bp.get(a, 0)) for a in plan.arms)
    if moved < plan.bandit_min_change_bp:
        return _outcome(look, state, "running", f"bandit weights steady (largest move {_pct(moved)})", notes)
    after = replace(state, shares_bp=shares, phase_since=look.now)
    listing = ", ".join(f"{a} {_pct(shares[a])}" for a in live)
    reason = f"bandit weights (Thompson on {plan.metric}, floor {plan.bandit_floor:.0%}): {listing}"
    return _outcome(
        look, after, "running", reason, [*notes, _note(look, state, after, "bandit_weights", reason)]
    )


def decide(plan: Plan, state: State, obs: Observation, *, now: float, rng: np.random.Generator) -> Outcome:
    """The next state of an experiment after one look at ``obs``; see the module docstring."""
    look = _Look(plan, obs, now)
    if state.status not in ROUTING:  # figures for a report, nothing decided or kept
        if state.started_at is not None:
            look = replace(
                look, guardrails=guardrail_looks(plan, state, obs), primary=primary_looks(plan, state, obs)
            )
        return _outcome(
            look, state, state.status.value, f"experiment is {state.status.value}: nothing to decide"
        )
    state = replace(state, looks=state.looks + 1)
    guardrails = guardrail_looks(plan, state, obs)
    state = with_guardrail_trackers(state, guardrails)
    look = replace(look, guardrails=guardrails, srm=srm_check(plan, state, obs))
    harmed = [g for g in guardrails if g.harmed]
    if harmed:
        return _on_harm(look, state, harmed)
    state, notes, blocked = _srm_gate(look, state)
    if blocked is not None:
        return blocked
    if state.winner is not None:
        return _ramp_winner(look, state, notes)
    if state.status is _S.RAMPING:
        return _ramp_up(look, state, notes)
    primary = primary_looks(plan, state, obs)
    state = replace(state, primary={**state.primary, **{a: p.tracker for a, p in primary.items()}})
    look = replace(look, primary=primary)
    if plan.mode is Mode.BANDIT:  # lifts are reported; the shares follow Thompson sampling
        return _bandit(look, state, notes, rng)
    return _measure(look, state, notes)
