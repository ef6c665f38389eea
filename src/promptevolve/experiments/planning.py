"""Planning an experiment: arm keys, the plan from a request, the minimum sample, the first state.

**Minimum sample size.** Given in the request, or from a power analysis of the primary metric for the
request's MDE, alpha (divided by the number of treatments, as the decision rule does) and power
(``stats.sample_size_per_arm``): with the mean and variance of the control's recorded calls when it has
at least 30; otherwise, for a metric in [0, 1], with the most conservative prior (mean 0.5, variance
0.25, the largest a [0, 1] metric can have); otherwise the request must give it. The power formula is
the fixed-horizon one: the always-valid tests need more units for the same power, so the figure is the
floor below which nothing is decided, not a promise of a decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
from sqlalchemy.orm import Session

from promptevolve.core.errors import ValidationError
from promptevolve.experiments.models import MAX_SAMPLE, ExperimentCreate
from promptevolve.experiments.plan import ExperimentStatus, Guardrail, Mode, Plan, State
from promptevolve.experiments.procedures import Procedure
from promptevolve.experiments.rollout import (
    equal_shares,
    percent_to_bp,
    ramp_up_complete,
    ramp_up_shares,
    target_shares,
    weights_to_bp,
)
from promptevolve.experiments.sums import variant_sample
from promptevolve.scoring import ScoringConfig, metric_spec
from promptevolve.stats import DEFAULT_TUNING, sample_size_per_arm

__all__ = ["arm_keys", "build_plan", "first_state", "look_seed", "minimum_sample"]

_S = ExperimentStatus
#: Control history below this many calls is too thin for a power analysis: a prior is used instead.
_MIN_HISTORY = 30


def minimum_sample(
    s: Session, request: ExperimentCreate, control_id: int, scoring: ScoringConfig
) -> tuple[int, str]:
    """Units per arm before any decision, and where the figure comes from (see the module docstring)."""
    if request.min_sample is not None:
        return request.min_sample, "given"
    spec = metric_spec(request.metric)
    history = variant_sample(s, control_id, spec, scoring)
    if history.n >= _MIN_HISTORY and history.variance > 0:
        mean, variance = history.mean, history.variance
        source = f"power analysis on the control's history ({history.n} calls, mean {mean:.4g})"
    elif spec.bounded:
        mean, variance = 0.5, 0.25
        source = "power analysis with a prior: the largest variance of a [0, 1] metric (0.25)"
    else:
        raise ValidationError(
            f"the control has {history.n} recorded calls on {request.metric}, too few to plan the sample "
            f"size: give min_sample"
        )
    m = len(request.treatments)
    try:
        with np.errstate(over="ignore"):  # an unreachable MDE overflows to inf: refused below
            n = sample_size_per_arm(
                baseline_mean=mean,
                baseline_variance=variance,
                mde=request.mde,
                relative=request.relative,
                alpha=request.alpha / m,
                power=request.power,
            )
    except (OverflowError, ValueError):
        n = MAX_SAMPLE + 1
    if n > MAX_SAMPLE:
        raise ValidationError(
            f"an MDE of {request.mde:g} on {request.metric} needs more than {MAX_SAMPLE:,} units per arm: "
            "choose a larger MDE"
        )
    return max(n, 2), f"{source}: {n} per arm for mde {request.mde:g}, alpha {request.alpha / m:g}"


def arm_keys(treatments: int) -> list[str]:
    if treatments == 1:
        return ["control", "treatment"]
    return ["control", *(f"treatment_{i}" for i in range(1, treatments + 1))]


def look_seed(seed: str, looks: int) -> list[int]:
    """A reproducible bandit draw per look: the experiment's seed and the look number."""
    digest = hashlib.blake2b(f"{seed}:{looks}".encode(), digest_size=8).digest()
    return [int.from_bytes(digest, "big")]


def build_plan(request: ExperimentCreate, keys: list[str], min_sample: int) -> Plan:
    shares = (
        weights_to_bp(dict(zip(keys, request.shares, strict=True)))
        if request.shares is not None
        else equal_shares(keys)
    )
    mode = Mode(request.mode)
    return Plan(
        mode=mode,
        control=keys[0],
        treatments=tuple(keys[1:]),
        test_shares_bp=shares,
        metric=request.metric,
        relative=request.relative,
        procedure=Procedure(request.procedure),
        alpha=request.alpha,
        mde=request.mde,
        min_sample=min_sample,
        guardrails=tuple(Guardrail(g.metric, g.tolerance, g.relative) for g in request.guardrails),
        guardrail_alpha=request.guardrail_alpha or request.alpha,
        ladder_bp=tuple(percent_to_bp(p) for p in request.ramp) if mode is Mode.AB else (),
        min_units_per_step=request.min_units_per_step,
        min_seconds_per_step=request.min_seconds_per_step,
        step_margin=request.step_margin,
        guardrail_min_units=request.guardrail_min_units,
        srm_grace_s=request.srm_grace_s,
        tuning=request.sequential_tuning or DEFAULT_TUNING,
        tau_sq=(request.msprt_tau or request.mde) ** 2,
        bandit_floor=request.bandit_floor,
        bandit_min_units=request.bandit_min_units,
    )


def first_state(plan: Plan, state: State, now: float) -> State:
    """The state of a draft that starts now: the first ramp step, or the test shares."""
    started = replace(state, started_at=now, phase_since=now, step=None, looks=0)
    if plan.mode is Mode.AB and plan.ladder_bp and not ramp_up_complete(plan, 0):
        return replace(started, status=_S.RAMPING, step=0, shares_bp=ramp_up_shares(plan, 0))
    return replace(started, status=_S.RUNNING, shares_bp=target_shares(plan), measure_since=now)
