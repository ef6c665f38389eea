"""The kinds of background job: what each runs, how often it may try, and whether a retry is safe.

A kind is a small class (``JobKind``): ``validate`` turns a request into the stored payload (refused
before anything is queued), ``run`` does the work and returns the result stored on the row, calling
the ``Checkpoint`` at its natural steps (progress, cancellation). Kinds are registered by name in
``builtin_kinds()``, as providers and evaluators are.

- ``evolve``: an evolution run (``EvolutionService.evolve``); progress at every model call. Two
  attempts: a retry only follows an unreachable store or model, which leaves nothing recorded.
- ``evaluate``: a variant scored on a dataset split (``EvolutionService.evaluate``); progress and the
  cancel check at every call. Three attempts.
- ``autopilot_pass``: one pass of the autopilot (``Autopilot.run_once``) over the given prompts or all
  with a policy; a cancel stops it between prompts. Three attempts: a pass is idempotent by design
  (leases, keyed decisions), so a retry, even after a worker died mid-pass, re-checks and does nothing
  twice.
- ``webhook`` (``jobs.webhooks``): one stored delivery of the outbox.

``resume_after_interrupt`` says what a reaper does with an attempt whose worker died: run it again
(kinds whose effects are guarded: the autopilot pass, a webhook delivery the receiver de-duplicates by
its id) or fail it with the reason (an evolution or evaluation spends model calls: a person decides).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from promptevolve.compose import Parts, compose, compose_autopilot
from promptevolve.core.errors import ProviderError, StoreUnavailableError, ValidationError
from promptevolve.evolution import EvolutionService, EvolveRequest
from promptevolve.jobs.models import JobDeps, JobInfo
from promptevolve.registry.models import NAME_PATTERN

if TYPE_CHECKING:
    from promptevolve.jobs.execute import Checkpoint

__all__ = [
    "AutopilotPassJob",
    "AutopilotPassRequest",
    "EvaluateJob",
    "EvaluateRequest",
    "EvolveJob",
    "JobKind",
    "builtin_kinds",
]


class JobKind(ABC):
    name: ClassVar[str]
    #: Attempts a job of this kind gets before it fails (``attempts(deps)`` may read settings).
    max_attempts: ClassVar[int] = 1
    #: The first retry waits this long, each next one twice as long.
    backoff_s: ClassVar[float] = 5.0
    resume_after_interrupt: ClassVar[bool] = False

    def attempts(self, deps: JobDeps) -> int:
        return self.max_attempts

    @abstractmethod
    def validate(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload to store, or ``ValidationError``."""

    @abstractmethod
    def run(self, deps: JobDeps, job: JobInfo, point: Checkpoint) -> dict[str, Any]:
        """Do the work; the result is stored on the row."""

    def retryable(self, exc: BaseException) -> bool:
        """Whether another attempt may succeed: the store or a model could not be reached."""
        return isinstance(exc, StoreUnavailableError) or (isinstance(exc, ProviderError) and exc.retryable)

    def gave_up(self, deps: JobDeps, job: JobInfo, error: str) -> None:
        """Called once when the job fails for good (before its row says so)."""
        return None


def _model(model: type[BaseModel], payload: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return model.model_validate(dict(payload)).model_dump(mode="json")
    except pydantic.ValidationError as exc:
        raise ValidationError(
            f"bad job request: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from None


def _parts(deps: JobDeps, actor: str) -> Parts:
    return compose(
        deps.store,
        actor=actor,
        providers=deps.providers,
        default_provider=deps.default_provider,
        on_change=deps.on_change,
    )


def _service(deps: JobDeps, actor: str) -> EvolutionService:
    return _parts(deps, actor).evolution


class EvolveJob(JobKind):
    name = "evolve"
    max_attempts = 2

    def validate(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return _model(EvolveRequest, payload)

    def run(self, deps: JobDeps, job: JobInfo, point: Checkpoint) -> dict[str, Any]:
        request = EvolveRequest.model_validate(dict(job.payload))
        point.progress({"stage": "starting", "calls": 0, "max_calls": request.budget, "candidates": 0})
        report = _service(deps, job.actor).evolve(request, on_progress=lambda p: point.progress(asdict(p)))
        return {
            "run_id": report.run_id,
            "child_version": report.child.version if report.child else None,
            "verdict": report.status,
            "experiment_id": report.experiment_id,
            "note": report.auto_ab_note,
        }


class EvaluateRequest(BaseModel):
    """A variant scored on a split of a dataset (what ``promptevolve eval`` does, as a job)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(pattern=NAME_PATTERN.pattern)
    version: str | None = Field(default=None, description="Default: the serving variant")
    dataset: str
    split: str = "test"
    evaluator: str | None = None
    evaluator_options: dict[str, Any] = Field(default_factory=dict)
    budget: int | None = Field(default=None, ge=1, description="Model calls at most; default what it needs")
    seed: int = 0
    max_items: int | None = Field(default=None, ge=1)


class EvaluateJob(JobKind):
    name = "evaluate"
    max_attempts = 3

    def validate(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return _model(EvaluateRequest, payload)

    def run(self, deps: JobDeps, job: JobInfo, point: Checkpoint) -> dict[str, Any]:
        request = EvaluateRequest.model_validate(dict(job.payload))
        calls = 0

        def on_call(_purpose: str) -> None:
            nonlocal calls
            calls += 1
            point.progress({"stage": "evaluate", "calls": calls, "max_calls": request.budget})

        point.progress({"stage": "starting", "calls": 0, "max_calls": request.budget})
        report = _service(deps, job.actor).evaluate(
            request.prompt,
            request.version,
            dataset=request.dataset,
            split=request.split,
            evaluator=request.evaluator,
            evaluator_options=request.evaluator_options,
            budget=request.budget,
            seed=request.seed,
            max_items=request.max_items,
            on_call=on_call,
        )
        score = report.score
        return {
            "variant": f"{report.variant.prompt}@{report.variant.version}",
            "dataset": report.dataset,
            "split": report.split,
            "evaluator": report.evaluator,
            "score": score.mean if score else None,
            "low": score.low if score else None,
            "high": score.high if score else None,
            "items": len(report.results),
            "errors": report.errors,
            "unparsable": report.unparsable,
            "calls": report.spend.calls,
            "tokens": report.spend.tokens,
            "complete": report.complete,
        }


class AutopilotPassRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: list[str] | None = Field(default=None, description="Default: every prompt with a policy")


class AutopilotPassJob(JobKind):
    name = "autopilot_pass"
    max_attempts = 3
    resume_after_interrupt = True

    def validate(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return _model(AutopilotPassRequest, payload)

    def run(self, deps: JobDeps, job: JobInfo, point: Checkpoint) -> dict[str, Any]:
        from promptevolve.jobs.webhooks import outbox_for  # the webhook kind imports this module

        request = AutopilotPassRequest.model_validate(dict(job.payload))
        point.progress({"stage": "pass", "prompts": len(request.prompts) if request.prompts else None})
        pilot = compose_autopilot(_parts(deps, job.actor), settings=deps.autopilot, notifier=outbox_for(deps))
        report = pilot.run_once(prompts=request.prompts, stop=point.stop)
        point.check()  # stopped between prompts by a cancel: the job says cancelled, not succeeded
        return report.model_dump(mode="json")


def builtin_kinds() -> dict[str, JobKind]:
    """Every kind by name (a new kind: a class here or in its own module, and one line below)."""
    from promptevolve.jobs.webhooks import WebhookJob

    kinds: list[JobKind] = [EvolveJob(), EvaluateJob(), AutopilotPassJob(), WebhookJob()]
    return {k.name: k for k in kinds}
