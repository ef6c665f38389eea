"""Experiments: create, start, pause, analyze, stop, promote, roll back; the decision log and report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from promptevolve.api.deps import AdminKey, PaginationDep, ReadKey, ServicesDep, actor
from promptevolve.api.errors import problem_responses
from promptevolve.api.params import INT32_MAX, PromptQuery
from promptevolve.api.schemas import Page, PromoteCreate, ReasonCreate
from promptevolve.experiments import (
    AnalysisResult,
    DecisionRecord,
    ExperimentCreate,
    ExperimentInfo,
    ExperimentReport,
)

__all__ = ["ExperimentId", "router"]

router = APIRouter(prefix="/experiments", tags=["experiments"])

ExperimentId = Annotated[int, Path(ge=1, le=INT32_MAX, description="Experiment id")]

_READ = problem_responses(401, 403, 404, 422)
_WRITE = problem_responses(401, 403, 404, 409, 422)


@router.get("", summary="Experiments, oldest first [read]", responses=_READ)
def list_experiments(
    services: ServicesDep, key: ReadKey, page: PaginationDep, prompt: PromptQuery = None
) -> Page[ExperimentInfo]:
    return page.page(services.experiments.list(prompt))


@router.post("", status_code=201, summary="Create a draft experiment [admin]", responses=_WRITE)
def create(body: ExperimentCreate, services: ServicesDep, key: AdminKey) -> ExperimentInfo:
    return services.experiments.create(body, actor=actor(key))


@router.get("/{experiment_id}", summary="One experiment [read]", responses=_READ)
def get(experiment_id: ExperimentId, services: ServicesDep, key: ReadKey) -> ExperimentInfo:
    return services.experiments.get(experiment_id)


@router.post(
    "/{experiment_id}/start", summary="Start a draft, or resume a paused experiment [admin]", responses=_WRITE
)
def start(experiment_id: ExperimentId, services: ServicesDep, key: AdminKey) -> ExperimentInfo:
    return services.experiments.start(experiment_id, actor=actor(key))


@router.post("/{experiment_id}/pause", summary="Stop routing for now [admin]", responses=_WRITE)
def pause(
    experiment_id: ExperimentId, services: ServicesDep, key: AdminKey, body: ReasonCreate | None = None
) -> ExperimentInfo:
    reason = body.reason if body else None
    return services.experiments.pause(experiment_id, reason=reason, actor=actor(key))


@router.post("/{experiment_id}/stop", summary="End without a winner [admin]", responses=_WRITE)
def stop(
    experiment_id: ExperimentId, services: ServicesDep, key: AdminKey, body: ReasonCreate | None = None
) -> ExperimentInfo:
    reason = body.reason if body else None
    return services.experiments.stop(experiment_id, reason=reason, actor=actor(key))


@router.post(
    "/{experiment_id}/promote",
    summary="Promote the winner (or an arm) now: it serves alone [admin]",
    responses=_WRITE,
)
def promote(
    experiment_id: ExperimentId, services: ServicesDep, key: AdminKey, body: PromoteCreate | None = None
) -> ExperimentInfo:
    body = body or PromoteCreate()
    return services.experiments.promote(experiment_id, arm=body.arm, reason=body.reason, actor=actor(key))


@router.post(
    "/{experiment_id}/rollback", summary="Serve the control alone again and end [admin]", responses=_WRITE
)
def rollback(
    experiment_id: ExperimentId, services: ServicesDep, key: AdminKey, body: ReasonCreate | None = None
) -> ExperimentInfo:
    reason = body.reason if body else None
    return services.experiments.rollback(experiment_id, reason=reason, actor=actor(key))


@router.post(
    "/{experiment_id}/analyze",
    summary="Look at the data and apply the decision rule (ramp, promote, roll back) [admin]",
    responses=_WRITE,
)
def analyze(experiment_id: ExperimentId, services: ServicesDep, key: AdminKey) -> AnalysisResult:
    return services.experiments.analyze(experiment_id, apply=True, actor=actor(key))


@router.get(
    "/{experiment_id}/analysis", summary="The analysis now, without applying it [read]", responses=_READ
)
def analysis(experiment_id: ExperimentId, services: ServicesDep, key: ReadKey) -> AnalysisResult:
    return services.experiments.analyze(experiment_id, apply=False)


@router.get("/{experiment_id}/decisions", summary="The decision log, oldest first [read]", responses=_READ)
def decisions(
    experiment_id: ExperimentId, services: ServicesDep, key: ReadKey, page: PaginationDep
) -> Page[DecisionRecord]:
    return page.page(services.experiments.decisions(experiment_id))


@router.get(
    "/{experiment_id}/report",
    summary="Analysis, lift interval over time and decision log, for the dashboard [read]",
    responses=_READ,
)
def report(
    experiment_id: ExperimentId,
    services: ServicesDep,
    key: ReadKey,
    buckets: Annotated[int, Query(ge=1, le=200, description="Time buckets of the lift series")] = 40,
) -> ExperimentReport:
    return services.experiments.report(experiment_id, buckets=buckets)
