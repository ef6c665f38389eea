"""Evolution runs as background jobs of this server process: an id at once, progress while it runs.

A run takes minutes of model calls, longer than any HTTP request should stay open, so ``POST
/evolution/jobs`` queues it on a small thread pool and answers 202 with the job's id; ``GET
/evolution/jobs/{id}`` shows its stage, calls spent and best score so far, then the recorded run.

**Limit**: the jobs live in this process's memory. With ``serve --workers 1`` every request sees every
job; with several workers a job is known only to the worker that started it (another answers 404), and a
restart forgets queued and running jobs. What a finished run produced is in the database either way
(``/evolution/runs``). A table of runs (id, request, status, progress, error, times, worker) would lift
the limit; until then, start evolutions against a single worker. The last ``keep`` jobs are kept.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from promptevolve.core.errors import NotFoundError, PromptevolveError
from promptevolve.core.ids import new_id
from promptevolve.evolution import EvolutionReport, EvolveRequest, Progress
from promptevolve.store.tables import utcnow

__all__ = ["EvolutionJobs", "Job", "RunEvolution"]

logger = logging.getLogger("promptevolve.api.jobs")

RunEvolution = Callable[[EvolveRequest, str, Callable[[Progress], None]], EvolutionReport]


@dataclass(frozen=True)
class Job:
    id: str
    request: EvolveRequest
    actor: str
    status: Literal["queued", "running", "succeeded", "failed"] = "queued"
    progress: Progress | None = None
    report: EvolutionReport | None = None
    error: str | None = None
    error_code: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class EvolutionJobs:
    """Runs ``run(request, actor, on_progress)`` on ``workers`` threads and keeps each job's state."""

    def __init__(self, run: RunEvolution, *, workers: int = 1, keep: int = 100) -> None:
        self._run = run
        self._keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="promptevolve-evolve")

    def submit(self, request: EvolveRequest, *, actor: str) -> Job:
        job = Job(id=new_id(), request=request, actor=actor)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
        self._pool.submit(self._execute, job.id)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"no evolution job {job_id!r} in this server process (jobs live in the process that "
                "started them; finished runs are listed at /evolution/runs)"
            )
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _execute(self, job_id: str) -> None:
        job = self.get(job_id)
        self._update(job_id, status="running", started_at=utcnow())
        try:
            report = self._run(job.request, job.actor, lambda p: self._update(job_id, progress=p))
        except PromptevolveError as exc:
            self._update(job_id, status="failed", error=str(exc), error_code=exc.code, finished_at=utcnow())
        except Exception as exc:
            logger.exception("evolution job %s failed", job_id)
            self._update(
                job_id,
                status="failed",
                error=f"internal error ({type(exc).__name__}); the server log has the details",
                error_code="internal",
                finished_at=utcnow(),
            )
        else:
            self._update(job_id, status="succeeded", report=report, finished_at=utcnow())
