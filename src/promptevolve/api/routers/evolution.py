"""Evolution: start a run as a background job (id and progress), follow it, read recorded runs; datasets.

Jobs live in this server process (see ``api.jobs`` for the limit with several workers); recorded runs
and their candidates are read from the database, so every worker sees them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from promptevolve.api import queries
from promptevolve.api.deps import AdminKey, PaginationDep, ReadKey, ServicesDep, actor
from promptevolve.api.errors import problem_responses
from promptevolve.api.jobs import Job
from promptevolve.api.params import PromptQuery
from promptevolve.api.schemas import (
    DatasetPublic,
    EvolutionJobPublic,
    EvolutionProgressPublic,
    EvolutionRunPublic,
    Page,
)
from promptevolve.evolution import DatasetInfo, EvolveRequest, get_dataset, list_datasets

__all__ = ["router"]

router = APIRouter(tags=["evolution"])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$", description="Job id")]
RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$", description="Run id")]

_READ = problem_responses(401, 403, 404, 422)


def _job(job: Job) -> EvolutionJobPublic:
    report, p = job.report, job.progress
    return EvolutionJobPublic(
        id=job.id,
        status=job.status,
        prompt=job.request.prompt,
        dataset=job.request.dataset,
        budget=job.request.budget,
        actor=job.actor,
        progress=EvolutionProgressPublic(
            stage=p.stage,
            calls=p.calls,
            max_calls=p.max_calls,
            candidates=p.candidates,
            best=p.best,
            message=p.message,
        )
        if p
        else None,
        run_id=report.run_id if report else None,
        child_version=report.child.version if report and report.child else None,
        verdict=report.status if report else None,
        experiment_id=report.experiment_id if report else None,
        note=report.auto_ab_note if report else None,
        error=job.error,
        error_code=job.error_code,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
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
    return _job(services.jobs.submit(body, actor=actor(key)))


@router.get(
    "/evolution/jobs",
    summary="Evolution jobs of this server process, newest first [read]",
    responses=problem_responses(401, 403, 422),
)
def jobs(services: ServicesDep, key: ReadKey, page: PaginationDep) -> Page[EvolutionJobPublic]:
    return page.page([_job(j) for j in services.jobs.list()])


@router.get("/evolution/jobs/{job_id}", summary="A job's status, progress and result [read]", responses=_READ)
def job(job_id: JobId, services: ServicesDep, key: ReadKey) -> EvolutionJobPublic:
    return _job(services.jobs.get(job_id))


@router.get("/evolution/runs", summary="Recorded evolution runs, newest first [read]", responses=_READ)
def runs(
    services: ServicesDep, key: ReadKey, page: PaginationDep, prompt: PromptQuery = None
) -> Page[EvolutionRunPublic]:
    found, total = queries.evolution_runs(services.store, prompt=prompt, limit=page.limit, offset=page.offset)
    return page.page(found, total=total)


@router.get(
    "/evolution/runs/{run_id}", summary="One recorded run with its candidates [read]", responses=_READ
)
def run(run_id: RunId, services: ServicesDep, key: ReadKey) -> EvolutionRunPublic:
    return queries.evolution_run(services.store, run_id)


@router.get(
    "/datasets",
    summary="Datasets for evolution and evaluation [read]",
    responses=problem_responses(401, 403, 422),
    tags=["datasets"],
)
def datasets(services: ServicesDep, key: ReadKey, page: PaginationDep) -> Page[DatasetPublic]:
    return page.page([_dataset(d) for d in list_datasets(services.store)])
