"""What an analysis shows: the per-arm results of a look, and the lift of each treatment over time.

``analysis_result`` turns the decision rule's ``Outcome`` (frozen values) into the public
``AnalysisResult`` (pydantic, for the CLI and the API): per arm the units, the mean, the lift against
the control with its running always-valid interval and p-value, the guardrails and the sample-ratio
check. Non-finite numbers become ``None``.

``series`` computes the lift interval over time for the chart: the primary metric's sums per arm,
grouped in SQL by the time bucket of each unit's first call (``sums.arm_series``), cumulated, and
compared with the plan's procedure at each bucket's end. Each point is the interval a look at that
moment would have given for the units that had entered by then (cohorts), so the last point equals the
current analysis; the sequential intervals are drawn as they are, not intersected over time.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy.orm import Session

from promptevolve.experiments.decide import ArmLook, Observation, Outcome, on_scale
from promptevolve.experiments.models import (
    AnalysisResult,
    ArmResult,
    ExperimentInfo,
    GuardrailResult,
    LiftInfo,
    SeriesPoint,
    SrmInfo,
)
from promptevolve.experiments.plan import Plan, State
from promptevolve.experiments.procedures import TestSettings, compare
from promptevolve.experiments.rollout import live_treatments
from promptevolve.experiments.sums import ArmSums, arm_series
from promptevolve.scoring import ScoringConfig
from promptevolve.scoring.metrics import metric_spec
from promptevolve.stats import ArmStats, RatioStats

__all__ = ["analysis_result", "series"]


def _num(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _executions(stats: ArmStats) -> int:
    return round(stats.sum_y) if isinstance(stats, RatioStats) else stats.n


def _lift(look: ArmLook, plan: Plan) -> LiftInfo | None:
    if look.primary is None:
        return None
    c, t = look.primary.comparison, look.primary.tracker
    low, high = on_scale(
        _num(t.low), _num(t.high), bounded=metric_spec(plan.metric).bounded, relative=plan.relative
    )
    return LiftInfo(
        status=c.status.value,
        estimate=_num(c.estimate),
        ci_low=low,
        ci_high=high,
        p_value=_num(look.primary.p_adjusted),
        chance_to_win=_num(c.chance_to_win),
        looks=t.looks,
    )


def _guardrails(plan: Plan, outcome: Outcome, obs: Observation) -> list[GuardrailResult]:
    rails = {g.metric: g for g in plan.guardrails}
    out = []
    for arm in outcome.arms:
        for g in arm.guardrails:
            stats = obs.guardrails.get(g.metric, {})
            control, mine = stats.get(plan.control), stats.get(g.arm)
            rail = rails[g.metric]
            low, high = on_scale(
                _num(g.tracker.low),
                _num(g.tracker.high),
                bounded=metric_spec(g.metric).bounded,
                relative=rail.relative,
            )
            out.append(
                GuardrailResult(
                    metric=g.metric,
                    arm=g.arm,
                    control_mean=_num(control.mean) if control and control.n else None,
                    mean=_num(mine.mean) if mine and mine.n else None,
                    estimate=_num(g.comparison.estimate),
                    ci_low=low,
                    ci_high=high,
                    p_harm=_num(g.p_adjusted),
                    tolerance=rails[g.metric].tolerance,
                    relative=rails[g.metric].relative,
                    harmed=g.harmed,
                )
            )
    return out


def _srm(outcome: Outcome, obs: Observation, state: State) -> SrmInfo | None:
    if outcome.srm is None:
        return None
    return SrmInfo(
        p_value=outcome.srm.p_value,
        statistic=_num(outcome.srm.statistic),
        counts={a: obs.units.get(a, 0) for a in state.shares_bp},
        expected_shares={a: bp / 100 for a, bp in state.shares_bp.items()},
        blocks=outcome.srm.blocks,
    )


def analysis_result(
    info: ExperimentInfo,
    plan: Plan,
    outcome: Outcome,
    obs: Observation,
    state_before: State,
    coverage: dict[str, float],
    *,
    applied: bool,
    at: datetime,
) -> AnalysisResult:
    """The public form of one look (see the module docstring)."""
    versions = {a.arm: a.version for a in info.arms}
    shares = outcome.state.shares_bp if applied else state_before.shares_bp
    arms = [
        ArmResult(
            arm=look.arm,
            version=versions.get(look.arm, "?"),
            is_control=look.arm == plan.control,
            share=shares.get(look.arm, 0) / 100,
            exposed=look.exposed,
            units=look.stats.n,
            executions=_executions(look.stats),
            mean=_num(look.stats.mean) if look.stats.n else None,
            coverage=_num(coverage.get(look.arm)),
            lift=_lift(look, plan),
            probability_best=_num(look.probability_best),
        )
        for look in outcome.arms
    ]
    return AnalysisResult(
        experiment=info,
        verdict=outcome.verdict,
        reason=outcome.reason,
        applied=applied,
        actions=[n.action for n in outcome.notes],
        arms=arms,
        guardrails=_guardrails(plan, outcome, obs),
        srm=_srm(outcome, obs, state_before),
        at=at,
    )


def series(
    s: Session,
    experiment_id: int,
    plan: Plan,
    state: State,
    scoring: ScoringConfig,
    *,
    end: float,
    buckets: int = 40,
) -> tuple[list[SeriesPoint], str]:
    """Cohort-cumulative lift of each treatment per time bucket, and a note on what the points mean."""
    start = state.measure_since if state.measure_since is not None else state.started_at
    if start is None:
        return [], "the experiment has not started"
    note = (
        "units by their first call since the measurement started; interval of the primary metric's lift"
        if state.measure_since is not None
        else "ramp-up only: the measurement has not started, and shares changed while these data came in"
    )
    width = max((end - start) / max(buckets, 1), 1.0)
    data = arm_series(s, experiment_id, plan.spec, scoring, start=start, width=width)
    treatments = live_treatments(plan, state) or plan.treatments
    settings = TestSettings(
        plan.procedure, plan.alpha / len(treatments), plan.relative, plan.tuning, plan.tau_sq
    )
    scale = {"bounded": metric_spec(plan.metric).bounded, "relative": plan.relative}
    steps = sorted({b for points in data.values() for b, _ in points})
    cumulative = {arm: ArmSums() for arm in plan.arms}
    by_bucket = {arm: dict(points) for arm, points in data.items()}
    out = []
    for b in steps:
        for arm in plan.arms:
            cumulative[arm] = cumulative[arm] + by_bucket.get(arm, {}).get(b, ArmSums())
        control = cumulative[plan.control].ratio
        for arm in treatments:
            c = compare(control, cumulative[arm].ratio, settings)
            low, high = on_scale(_num(c.ci_low) if c.ok else None, _num(c.ci_high) if c.ok else None, **scale)
            out.append(
                SeriesPoint(
                    arm=arm,
                    at=start + (b + 1) * width,
                    units_control=control.n,
                    units=cumulative[arm].units,
                    estimate=_num(c.estimate) if c.ok else None,
                    ci_low=low,
                    ci_high=high,
                )
            )
    return out, note
