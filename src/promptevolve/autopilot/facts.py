"""What a pass reads about a prompt before it decides: plain reads of the store, no writes.

``gather`` builds the ``decide.Facts`` of a prompt without a live experiment: the serving version, the
pending candidate (from the decision log) and whether it was already A/B tested, the feedback that
arrived since the last round, the drift detector's pending alarm, and what is left of today's budget.
The other functions answer the pass's and the status's smaller questions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from promptevolve.autopilot import budget, candidates, journal, watch
from promptevolve.autopilot.decide import CandidateFact, Facts
from promptevolve.autopilot.policy import Policy, local_day
from promptevolve.core.errors import NotFoundError
from promptevolve.core.statuses import LIVE, ExperimentStatus, sql_values
from promptevolve.registry import Registry
from promptevolve.store.engine import Store
from promptevolve.store.tables import (
    Decision,
    Execution,
    Experiment,
    ExperimentArm,
    Feedback,
    Prompt,
    PromptVariant,
)

__all__ = [
    "gather",
    "last_decision_id",
    "live_experiment_id",
    "new_feedback",
    "prompt_config",
    "prompt_id",
    "tested_in",
]


def prompt_id(store: Store, name: str) -> int:
    with store.read() as s:
        found = s.scalar(select(Prompt.id).where(Prompt.name == name))
    if found is None:
        raise NotFoundError(f"unknown prompt {name!r}: `promptevolve prompt list` shows the known ones")
    return int(found)


def prompt_config(store: Store, pid: int) -> dict[str, Any]:
    with store.read() as s:
        return dict(s.get_one(Prompt, pid).config or {})


def live_experiment_id(store: Store, pid: int) -> int | None:
    with store.read() as s:
        return s.scalar(
            select(Experiment.id)
            .where(Experiment.prompt_id == pid, Experiment.status.in_(sql_values(LIVE)))
            .order_by(Experiment.id.desc())
            .limit(1)
        )


def tested_in(store: Store, pid: int, version: str) -> int | None:
    """An experiment (started) in which ``version`` was a treatment, if any."""
    with store.read() as s:
        return s.scalar(
            select(ExperimentArm.experiment_id)
            .join(Experiment, Experiment.id == ExperimentArm.experiment_id)
            .join(PromptVariant, PromptVariant.id == ExperimentArm.variant_id)
            .where(
                Experiment.prompt_id == pid,
                PromptVariant.version == version,
                ExperimentArm.is_control.is_(False),
                Experiment.status != ExperimentStatus.DRAFT.value,
            )
            .limit(1)
        )


def last_decision_id(store: Store, experiment_id: int) -> int:
    with store.read() as s:
        return int(
            s.scalar(select(func.max(Decision.id)).where(Decision.experiment_id == experiment_id)) or 0
        )


def new_feedback(store: Store, pid: int) -> int:
    """Executions of the prompt that received feedback since the last evolution round (any feedback,
    before the first round); an execution with a score, thumbs and a correction counts once."""
    last = journal.last_round(store, pid)
    query = (
        select(func.count(func.distinct(Feedback.execution_id)))
        .select_from(Feedback)
        .join(Execution, Execution.id == Feedback.execution_id)
        .where(Execution.prompt_id == pid)
    )
    if last is not None:
        query = query.where(Feedback.ts > last.timestamp())
    with store.read() as s:
        return int(s.scalar(query) or 0)


def gather(store: Store, registry: Registry, name: str, pid: int, policy: Policy, *, now: float) -> Facts:
    """The facts of one prompt, read in one transaction (``Store.snapshot``): the registry, the
    candidates, the budget, the drift state and the decision log seen at one moment, not one each."""
    with store.snapshot():
        return _facts(store, registry, name, pid, policy, now=now)


def _facts(store: Store, registry: Registry, name: str, pid: int, policy: Policy, *, now: float) -> Facts:
    serving = registry.get_variant(name)
    candidate = candidates.pending(store, pid)
    day = local_day(now, policy.timezone)
    used = budget.usage(store, pid, day)
    drift = watch.read_drift(store, pid, policy.drift)
    tokens_left = None if policy.daily_tokens is None else max(policy.daily_tokens - used.tokens, 0)
    fact = None
    if candidate is not None:
        fact = CandidateFact(
            candidate.version, candidate.parent, candidate.approved, tested_in(store, pid, candidate.version)
        )
    return Facts(
        autonomy=policy.autonomy,
        serving=serving.version,
        candidate=fact,
        new_feedback=new_feedback(store, pid),
        min_feedback=policy.evolution.min_feedback,
        drift_pending=policy.drift.enabled and drift.pending is not None and drift.variant_id == serving.id,
        day=day,
        calls_left=max(policy.daily_calls - used.calls, 0),
        tokens_left=tokens_left,
        round_calls=policy.evolution.round_calls,
        round_tokens=policy.evolution.round_tokens,
        rounds=journal.rounds(store, pid),
    )
