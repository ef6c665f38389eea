"""Background jobs of every kind: list, follow, cancel, retry; start an evaluation or an autopilot pass.

Jobs are rows of the ``jobs`` table (``promptevolve.jobs``), so every replica answers for every job,
whichever process or worker runs it. Evolution runs start at ``POST /evolution/jobs`` (its router).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from promptevolve.api.deps import AdminKey, PaginationDep, ReadKey, ServicesDep, actor
from promptevolve.api.errors import problem_responses
from promptevolve.api.schemas import AutopilotPassCreate, EvaluationCreate, JobPublic, Page
from promptevolve.evolution import get_dataset
from promptevolve.jobs import JobInfo

__all__ = ["JobId", "job_public", "router"]

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$", description="Job id")]
_KINDS = r"^(evaluate|evolve|autopilot_pass|webhook)$"
_STATUS = r"^(queued|running|succeeded|failed|cancelled)$"


def job_public(job: JobInfo) -> JobPublic:
    waits = job.status == "queued" and job.run_after > 0
    return JobPublic(
        id=job.id,
        kind=job.kind,
        status=job.status,
        request=dict(job.payload),
        actor=job.actor,
        progress=dict(job.progress) if job.progress is not None else None,
        result=dict(job.result) if job.result is not None else None,
        error=job.error,
        error_code=job.error_code,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        cancel_requested=job.cancel_requested,
        retry_at=datetime.fromtimestamp(job.run_after, UTC) if waits else None,
        worker=job.worker,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@router.get(
    "/jobs",
    summary="Background jobs of every kind, newest first [read]",
    responses=problem_responses(401, 403, 422),
)
def jobs(
    services: ServicesDep,
    key: ReadKey,
    page: PaginationDep,
    kind: Annotated[str | None, Query(pattern=_KINDS, description="Only this kind")] = None,
    status: Annotated[str | None, Query(pattern=_STATUS, description="Only this status")] = None,
) -> Page[JobPublic]:
    found, total = services.jobs.list(
        kinds=[kind] if kind else None, status=status, limit=page.limit, offset=page.offset
    )
    return page.page([job_public(j) for j in found], total=total)


@router.get(
    "/jobs/{job_id}",
    summary="A job's status, progress and result [read]",
    responses=problem_responses(401, 403, 404, 422),
)
def job(job_id: JobId, services: ServicesDep, key: ReadKey) -> JobPublic:
    return job_public(services.jobs.get(job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    summary="Cancel a job: at once when queued, at its next checkpoint when running [admin]",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def cancel(job_id: JobId, services: ServicesDep, key: AdminKey) -> JobPublic:
    return job_public(services.jobs.cancel(job_id))


@router.post(
    "/jobs/{job_id}/retry",
    summary="Queue a failed or cancelled job again, with its attempts anew [admin]",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def retry(job_id: JobId, services: ServicesDep, key: AdminKey) -> JobPublic:
    return job_public(services.jobs.retry(job_id))


@router.post(
    "/evaluations",
    status_code=202,
    summary="Score a variant on a dataset split in the background; answers with the job [admin]",
    responses=problem_responses(401, 403, 404, 422),
    tags=["evolution"],
)
def evaluate(body: EvaluationCreate, services: ServicesDep, key: AdminKey) -> JobPublic:
    services.registry.get_variant(body.prompt, body.version)  # 404 now rather than a failed job later
    get_dataset(services.store, body.dataset)
    return job_public(services.jobs.defer("evaluate", body.model_dump(mode="json"), actor=actor(key)))


@router.post(
    "/autopilot/passes",
    status_code=202,
    summary="Run one autopilot pass in the background; answers with the job [admin]",
    responses=problem_responses(401, 403, 422),
    tags=["autopilot"],
)
def autopilot_pass(body: AutopilotPassCreate, services: ServicesDep, key: AdminKey) -> JobPublic:
    return job_public(services.jobs.defer("autopilot_pass", body.model_dump(mode="json"), actor=actor(key)))
