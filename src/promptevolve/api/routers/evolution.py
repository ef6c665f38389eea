"""Evolution: start a run as a background job (id and progress), follow it, read recorded runs; datasets.

Jobs are rows of the ``jobs`` table (kind ``evolve``; ``/jobs`` lists every kind, cancels and retries),
recorded runs and their candidates are read from the database: every replica sees them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path

from promptevolve.api.deps import AdminKey, PaginationDep, ReadKey, ServicesDep, actor
from promptevolve.api.errors import problem_responses
from promptevolve.api.params import PromptQuery
from promptevolve.api.schemas import (
    DatasetPublic,
    EvolutionJobPublic,
    EvolutionProgressPublic,
    EvolutionRunPublic,
    Page,
)
from promptevolve.core.errors import NotFoundError
from promptevolve.evolution import DatasetInfo, EvolveRequest, get_dataset, list_datasets
from promptevolve.evolution import runs as recorded_runs
from promptevolve.evolution.runs import RecordedRun
from promptevolve.jobs import JobInfo

__all__ = ["router"]

router = APIRouter(tags=["evolution"])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$", description="Job id")]
RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$", description="Run id")]

_READ = problem_responses(401, 403, 404, 422)


def _job(job: JobInfo) -> EvolutionJobPublic:
    request, p, r = EvolveRequest.model_validate(dict(job.payload)), job.progress, job.result or {}
    return EvolutionJobPublic(
        id=job.id,
        status=job.status,
        prompt=request.prompt,
        dataset=request.dataset,
        budget=request.budget,
        actor=job.actor,
        progress=_progress(p) if p and p.get("stage") != "starting" else None,
        run_id=r.get("run_id"),
        child_version=r.get("child_version"),
        verdict=r.get("verdict"),
        experiment_id=r.get("experiment_id"),
        note=r.get("note"),
        error=job.error,
        error_code=job.error_code,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        cancel_requested=job.cancel_requested,
    )


def _progress(p: Mapping[str, Any]) -> EvolutionProgressPublic:
    return EvolutionProgressPublic(
        stage=str(p.get("stage", "")),
        calls=int(p.get("calls", 0)),
        max_calls=int(p.get("max_calls", 0)),
        candidates=int(p.get("candidates", 0)),
        best=p.get("best"),
        message=str(p.get("message", "")),
    )


def _dataset(info: DatasetInfo) -> DatasetPublic:
    return DatasetPublic(
        name=info.name,
        description=info.description,
        source=info.source,
        evaluator=info.evaluator,
        counts=dict(info.counts),
        locales=dict(info.locales),
        created_at=info.created_at,
    )


@router.post(
    "/evolution/jobs",
    status_code=202,
    summary="Start an evolution run in the background; answers with the job to follow [admin]",
    responses=problem_responses(401, 403, 404, 422),
)
def start(body: EvolveRequest, services: ServicesDep, key: AdminKey) -> EvolutionJobPublic:
    services.registry.get_variant(body.prompt, body.version)  # 404 now rather than a failed job later
    if not body.from_feedback:
        get_dataset(services.store, body.dataset)
    return _job(services.jobs.defer("evolve", body.model_dump(mode="json"), actor=actor(key)))


@router.get(
    "/evolution/jobs",
    summary="Evolution jobs, newest first [read]",
    responses=problem_responses(401, 403, 422),
)
def jobs(services: ServicesDep, key: ReadKey, page: PaginationDep) -> Page[EvolutionJobPublic]:
    found, total = services.jobs.list(kinds=["evolve"], limit=page.limit, offset=page.offset)
    return page.page([_job(j) for j in found], total=total)


@router.get("/evolution/jobs/{job_id}", summary="A job's status, progress and result [read]", responses=_READ)
def job(job_id: JobId, services: ServicesDep, key: ReadKey) -> EvolutionJobPublic:
    found = services.jobs.get(job_id)
    if found.kind != "evolve":
        raise NotFoundError(f"job {job_id} is not an evolution ({found.kind}): GET /jobs/{job_id} shows it")
    return _job(found)


@router.get("/evolution/runs", summary="Recorded evolution runs, newest first [read]", responses=_READ)
def runs(
    services: ServicesDep, key: ReadKey, page: PaginationDep, prompt: PromptQuery = None
) -> Page[EvolutionRunPublic]:
    found, total = recorded_runs.list_runs(
        services.store, prompt=prompt, limit=page.limit, offset=page.offset
    )
    return page.page([_run(r) for r in found], total=total)


@router.get(
    "/evolution/runs/{run_id}", summary="One recorded run with its candidates [read]", responses=_READ
)
def run(run_id: RunId, services: ServicesDep, key: ReadKey) -> EvolutionRunPublic:
    return _run(recorded_runs.get_run(services.store, run_id))


def _run(recorded: RecordedRun) -> EvolutionRunPublic:
    return EvolutionRunPublic.model_validate(recorded, from_attributes=True)


@router.get(
    "/datasets",
    summary="Datasets for evolution and evaluation [read]",
    responses=problem_responses(401, 403, 422),
    tags=["datasets"],
)
def datasets(services: ServicesDep, key: ReadKey, page: PaginationDep) -> Page[DatasetPublic]:
    return page.page([_dataset(d) for d in list_datasets(services.store)])
