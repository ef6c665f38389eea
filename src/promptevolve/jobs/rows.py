"""Every read and write of the ``jobs`` table, the one place that knows its columns.

Each state change is one conditional ``UPDATE … WHERE status = …`` (and, for a running job, ``WHERE
worker = … AND attempts = …``), so two workers, two API replicas or a worker and a person's cancel can
race and exactly one wins: a job is claimed once per attempt, and a worker that lost its job (declared
stalled and retried elsewhere) cannot overwrite what the new attempt writes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from promptevolve.core.errors import ConflictError, NotFoundError
from promptevolve.core.ids import new_id
from promptevolve.jobs.models import FINAL, UNFINISHED, JobInfo
from promptevolve.store.engine import Store
from promptevolve.store.tables import JobRow, utcnow

__all__ = [
    "add",
    "claim",
    "claimable",
    "count_finished",
    "delete_finished",
    "finish",
    "get",
    "heartbeat",
    "insert",
    "interrupted",
    "list_jobs",
    "live_ids",
    "never_handed_over",
    "request_cancel",
    "requeue",
    "retry",
    "running_on",
    "running_workers",
    "set_engine_ref",
    "set_progress",
]


def _count(result: Any) -> int:
    """Rows an UPDATE matched (SQLAlchemy types ``execute`` as returning a plain ``Result``)."""
    return int(result.rowcount)


def _info(row: JobRow) -> JobInfo:
    return JobInfo(
        id=row.id,
        kind=row.kind,
        status=row.status,  # type: ignore[arg-type]
        payload=row.payload or {},
        actor=row.actor,
        progress=row.progress,
        result=row.result,
        cancel_requested=row.cancel_requested,
        error=row.error,
        error_code=row.error_code,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        run_after=row.run_after,
        worker=row.worker,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def add(session: Session, kind: str, payload: Mapping[str, Any], *, actor: str, max_attempts: int) -> JobRow:
    """A queued job added in the caller's transaction (the outbox relay makes its jobs so)."""
    row = JobRow(
        id=new_id(),
        kind=kind,
        status="queued",
        payload=dict(payload),
        actor=actor,
        cancel_requested=False,
        attempts=0,
        max_attempts=max_attempts,
        run_after=0.0,
        created_at=utcnow(),
    )
    session.add(row)
    return row


def insert(store: Store, kind: str, payload: Mapping[str, Any], *, actor: str, max_attempts: int) -> JobInfo:
    with store.write() as s:
        row = add(s, kind, payload, actor=actor, max_attempts=max_attempts)
        s.flush()
        return _info(row)


def get(store: Store, job_id: str) -> JobInfo:
    with store.read() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}: GET /jobs lists them")
        return _info(row)


def list_jobs(
    store: Store,
    *,
    kinds: Sequence[str] | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[JobInfo], int]:
    """Newest first (ids are time-ordered), with the total matching."""
    where: list[Any] = []
    if kinds is not None:
        where.append(JobRow.kind.in_(list(kinds)))
    if status is not None:
        where.append(JobRow.status == status)
    with store.read() as s:
        total = s.scalar(select(func.count()).select_from(JobRow).where(*where)) or 0
        rows = s.scalars(select(JobRow).where(*where).order_by(JobRow.id.desc()).limit(limit).offset(offset))
        return [_info(r) for r in rows], total


def claimable(store: Store, *, now: float, kinds: Sequence[str], limit: int = 10) -> list[str]:
    """Queued jobs of ``kinds`` whose backoff has passed, oldest first (the embedded runner's poll)."""
    with store.read() as s:
        return list(
            s.scalars(
                select(JobRow.id)
                .where(JobRow.status == "queued", JobRow.run_after <= now, JobRow.kind.in_(list(kinds)))
                .order_by(JobRow.id)
                .limit(limit)
            )
        )


def claim(store: Store, job_id: str, *, worker: str, now: float) -> JobInfo | None:
    """Make a queued job running for ``worker`` (one more attempt); None if another took it first, it
    was cancelled, or it is not due. A job cancelled while queued is never claimed."""
    with store.write() as s:
        done = s.execute(
            update(JobRow)
            .where(
                JobRow.id == job_id,
                JobRow.status == "queued",
                JobRow.run_after <= now,
                JobRow.cancel_requested.is_(False),
            )
            .values(
                status="running",
                worker=worker,
                attempts=JobRow.attempts + 1,
                heartbeat_at=now,
                started_at=utcnow(),
                finished_at=None,
            )
        )
        if _count(done) != 1:
            return None
        row = s.get(JobRow, job_id)
        assert row is not None
        return _info(row)


def _mine(job: JobInfo) -> list[Any]:
    return [
        JobRow.id == job.id,
        JobRow.status == "running",
        JobRow.worker == job.worker,
        JobRow.attempts == job.attempts,
    ]


def set_progress(store: Store, job: JobInfo, progress: Mapping[str, Any]) -> bool:
    """Write the progress of the attempt ``job`` is; returns whether a cancel was asked meanwhile."""
    with store.write() as s:
        s.execute(update(JobRow).where(*_mine(job)).values(progress=dict(progress)))
        return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job.id)))


def heartbeat(store: Store, job: JobInfo, *, now: float) -> bool:
    """The attempt is alive; returns whether a cancel was asked."""
    with store.write() as s:
        s.execute(update(JobRow).where(*_mine(job)).values(heartbeat_at=now))
        return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job.id)))


def finish(
    store: Store,
    job: JobInfo,
    status: str,
    *,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
    error_code: str | None = None,
) -> bool:
    """End the attempt (succeeded, failed or cancelled); False if it was no longer this attempt's."""
    with store.write() as s:
        done = s.execute(
            update(JobRow)
            .where(*_mine(job))
            .values(
                status=status,
                result=dict(result) if result is not None else None,
                error=error,
                error_code=error_code,
                finished_at=utcnow(),
            )
        )
        return _count(done) == 1


def requeue(store: Store, job: JobInfo, *, run_after: float, error: str, error_code: str) -> bool:
    """Queue the job again after a retryable failure of this attempt (its error stays visible)."""
    with store.write() as s:
        done = s.execute(
            update(JobRow)
            .where(*_mine(job))
            .values(status="queued", run_after=run_after, error=error, error_code=error_code, worker=None)
        )
        return _count(done) == 1


def request_cancel(store: Store, job_id: str) -> JobInfo:
    """A queued job is cancelled at once; a running one is asked to stop at its next checkpoint."""
    with store.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}: GET /jobs lists them")
        if row.status == "queued":
            row.status, row.finished_at = "cancelled", utcnow()
            row.cancel_requested = True
        elif row.status == "running":
            row.cancel_requested = True
        else:
            raise ConflictError(f"job {job_id} is already {row.status}: only queued or running jobs cancel")
        s.flush()
        return _info(row)


def retry(store: Store, job_id: str, *, extra_attempts: int) -> JobInfo:
    """A person queues a failed or cancelled job again, with ``extra_attempts`` more tries."""
    with store.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}: GET /jobs lists them")
        if row.status not in ("failed", "cancelled"):
            raise ConflictError(f"job {job_id} is {row.status}: only failed or cancelled jobs are retried")
        row.status, row.cancel_requested, row.run_after = "queued", False, 0.0
        row.max_attempts = row.attempts + extra_attempts
        row.worker, row.finished_at = None, None
        s.flush()
        return _info(row)


def set_engine_ref(store: Store, job_id: str, ref: str) -> None:
    with store.write() as s:
        s.execute(update(JobRow).where(JobRow.id == job_id).values(engine_ref=ref))


def never_handed_over(store: Store, *, made_before: float) -> list[str]:
    """Queued jobs made before ``made_before`` (epoch seconds) that no engine took (``engine_ref`` unset):
    their server died between the row and the hand-over (the procrastinate engine's sweep)."""
    with store.read() as s:
        return list(
            s.scalars(
                select(JobRow.id).where(
                    JobRow.status == "queued",
                    JobRow.engine_ref.is_(None),
                    JobRow.id < _id_before(made_before),
                )
            )
        )


def _id_before(epoch_s: float) -> str:
    """Ids start with 12 hex digits of milliseconds (``core.ids``): the smallest id made at ``epoch_s``."""
    return f"{int(epoch_s * 1000):012x}"


def running_on(store: Store, *, stalled_before: float, workers: Sequence[str] = ()) -> list[JobInfo]:
    """Running jobs whose heartbeat is older than ``stalled_before``, or that run on ``workers``."""
    cond = JobRow.heartbeat_at < stalled_before
    if workers:
        cond = cond | JobRow.worker.in_(list(workers))
    with store.read() as s:
        return [_info(r) for r in s.scalars(select(JobRow).where(JobRow.status == "running", cond))]


def running_workers(store: Store) -> list[str]:
    """The workers of running jobs."""
    with store.read() as s:
        names = s.scalars(select(JobRow.worker).where(JobRow.status == "running").distinct())
        return [n for n in names if n]


def interrupted(store: Store, job: JobInfo, *, reason: str, resume: bool) -> bool:
    """An attempt whose worker died: queued again when ``resume`` and attempts are left, else failed with
    ``reason``. Conditional on the attempt, so two reapers (or a late heartbeat) cannot both act."""
    again = resume and job.attempts < job.max_attempts
    values: dict[str, Any] = {"error": reason, "error_code": "interrupted", "worker": None}
    if again:
        values.update(status="queued", run_after=time.time())
    else:
        values.update(status="failed", finished_at=utcnow())
    with store.write() as s:
        done = s.execute(update(JobRow).where(*_mine(job)).values(**values))
        return _count(done) == 1


# --- retention (``jobs.retention`` runs these in its batches) ------------------------------------------


def _finished_before(cutoff: datetime) -> list[Any]:
    """Final jobs that finished before ``cutoff``. The id bound (ids start with their creation time, and
    a job finishes after it is made) lets the primary key bound the scan: the table has no index on
    ``finished_at``, and what is older than the cutoff is, after the first prune, only the few jobs
    still queued or running."""
    return [
        JobRow.id < _id_before(cutoff.timestamp()),
        JobRow.status.in_(FINAL),
        JobRow.finished_at < cutoff,
    ]


def delete_finished(session: Session, *, finished_before: datetime, limit: int) -> int:
    """Delete up to ``limit`` final jobs that finished before ``finished_before``, oldest first, in the
    caller's transaction; returns how many. The conditions are repeated on the DELETE itself, so a job a
    person retried between the choice and the delete (queued again) is kept."""
    where = _finished_before(finished_before)
    chosen = select(JobRow.id).where(*where).order_by(JobRow.id).limit(limit)
    # No session sync: the ORM would otherwise fetch every deleted id back (RETURNING) to expire objects
    # this session does not hold.
    statement = delete(JobRow).where(JobRow.id.in_(chosen), *where)
    return _count(session.execute(statement.execution_options(synchronize_session=False)))


def count_finished(store: Store, *, finished_before: datetime) -> int:
    """How many jobs ``delete_finished`` would delete, all batches together (a dry run)."""
    with store.read() as s:
        where = _finished_before(finished_before)
        return int(s.scalar(select(func.count()).select_from(JobRow).where(*where)) or 0)


def live_ids() -> Select[str]:
    """The ids of queued and running jobs, as a subquery for the outbox's prune (a delivery a job may
    still post is kept)."""
    return select(JobRow.id).where(JobRow.status.in_(UNFINISHED))
