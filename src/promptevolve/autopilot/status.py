"""Where each prompt stands with the autopilot: ``autopilot_status`` (what the CLI, API and dashboard show).

Per prompt: the policy, the **step** (``evolving`` while a pass holds the lease in that phase; else a
live experiment's ``ramping`` / ``experiment_running`` / ``paused``; else ``awaiting_approval`` for a
gated candidate under ``propose``; else ``quiet_hours``, ``observing``, ``disabled`` or ``idle``) with a
one-line detail, the serving version, the budget used and left today, the lease, the drift detector's
progress and pending alarm, and the last decisions. Read-only: nothing is locked or written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from promptevolve.autopilot import budget, candidates, facts, journal, watch
from promptevolve.autopilot.facts import live_experiment_id
from promptevolve.autopilot.leases import read_lease
from promptevolve.autopilot.models import (
    AutopilotStatus,
    BudgetStatus,
    DriftStatus,
    ExperimentSummary,
    LeaseStatus,
    PromptStatus,
    StepName,
)
from promptevolve.autopilot.policy import Autonomy, Policy, get_policy, local_day, policy_names
from promptevolve.core.protocols import Clock, SystemClock
from promptevolve.experiments import ExperimentInfo, ExperimentService
from promptevolve.registry import Registry
from promptevolve.store.engine import Store

__all__ = ["autopilot_status", "prompt_status"]


def autopilot_status(
    store: Store, *, prompts: Iterable[str] | None = None, clock: Clock | None = None, last: int = 5
) -> AutopilotStatus:
    """Every prompt with a policy (or the ``prompts`` named, with or without one)."""
    registry = Registry(store)
    names = list(prompts) if prompts is not None else policy_names(registry)
    now = (clock or SystemClock()).now()
    return AutopilotStatus(
        at=datetime.fromtimestamp(now, UTC),
        prompts=[prompt_status(store, name, now=now, last=last, registry=registry) for name in names],
    )


def prompt_status(
    store: Store, name: str, *, now: float, last: int = 5, registry: Registry | None = None
) -> PromptStatus:
    registry = registry or Registry(store)
    policy = get_policy(registry, name)
    prompt_id = facts.prompt_id(store, name)
    serving = registry.get_variant(name).version
    experiment = _live(store, registry, prompt_id)
    lease = read_lease(store, prompt_id)
    lease_status = (
        LeaseStatus(holder=lease.holder, phase=lease.phase, expires_in_s=round(lease.expires_at - now, 1))
        if lease is not None and lease.expires_at > now
        else None
    )
    candidate = candidates.pending(store, prompt_id)
    step, detail = _step(policy, experiment, lease_status, candidate, now)
    out = PromptStatus(
        prompt=name,
        step=step,
        detail=detail,
        serving=serving,
        policy=policy,
        experiment=_summary(experiment) if experiment else None,
        candidate=candidate.version if candidate else None,
        lease=lease_status,
        last_actions=journal.recent(store, prompt_id, limit=last),
    )
    if policy is None:
        return out
    day = local_day(now, policy.timezone)
    used = budget.usage(store, prompt_id, day)
    reading = watch.read_drift(store, prompt_id, policy.drift)
    out.budget = BudgetStatus(
        day=day,
        calls_used=used.calls,
        calls_limit=policy.daily_calls,
        tokens_used=used.tokens,
        tokens_limit=policy.daily_tokens,
        rounds=used.rounds,
    )
    out.drift = DriftStatus(
        enabled=policy.drift.enabled,
        monitored_batches=reading.monitored,
        reference_progress=reading.reference_progress,
        pending_alarm=reading.pending,
    )
    return out


def _live(store: Store, registry: Registry, prompt_id: int) -> ExperimentInfo | None:
    exp_id = live_experiment_id(store, prompt_id)
    return ExperimentService(store, registry=registry).get(exp_id) if exp_id is not None else None


def _summary(info: ExperimentInfo) -> ExperimentSummary:
    control = next(a for a in info.arms if a.is_control)
    treatment = next((a for a in info.arms if not a.is_control), None)
    return ExperimentSummary(
        id=info.id,
        status=info.status,
        control=control.version,
        treatment=treatment.version if treatment else None,
        treatment_share=treatment.share if treatment else None,
    )


def _step(
    policy: Policy | None,
    experiment: ExperimentInfo | None,
    lease: LeaseStatus | None,
    candidate: candidates.Candidate | None,
    now: float,
) -> tuple[StepName, str]:
    if policy is None:
        return "no_policy", "no autopilot policy: `promptevolve autopilot policy NAME --autonomy …`"
    if lease is not None and lease.phase == "evolving":
        return "evolving", f"an evolution round is running ({lease.holder})"
    if experiment is not None:
        summary = _summary(experiment)
        share = f"{summary.treatment} at {summary.treatment_share:g} %"
        if experiment.status == "ramping":
            return "ramping", f"experiment {experiment.id} ramping: {share}"
        if experiment.status == "paused":
            return "paused", f"experiment {experiment.id} paused by a person"
        return "experiment_running", f"experiment {experiment.id} measuring: {share}"
    if not policy.enabled:
        return "disabled", "the policy is disabled"
    if candidate is not None and policy.autonomy is Autonomy.PROPOSE and not candidate.approved:
        return "awaiting_approval", f"candidate {candidate.version} passed the gate: approve or reject it"
    if policy.is_quiet(now):
        return "quiet_hours", f"quiet hours {policy.quiet_hours} ({policy.timezone}): no changes"
    if policy.autonomy is Autonomy.OBSERVE:
        return "observing", "observe only: analyses and drift alarms, no changes"
    return "idle", "waiting for feedback, a drift alarm or budget"
