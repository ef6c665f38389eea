"""``JobQueue``: the one interface the API, the dashboard and the CLI use, whatever engine runs the jobs.

``defer`` validates the request for its kind, stores the row (``queued``) and hands the job to the
engine; ``get`` / ``list`` read rows; ``cancel`` and ``retry`` change them. Everything a reader sees
lives in the ``jobs`` table, so the answers are the same from every API replica and for every engine;
an engine subclass only says how a stored job reaches a worker (``_dispatch``) and runs its workers.

Engines: ``EmbeddedQueue`` (threads in this process, the default, nothing to install) and
``ProcrastinateQueue`` (procrastinate workers on PostgreSQL, ``promptevolve worker``). ``open_queue``
builds the configured one.
"""

from __future__ import annotations

import logging
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from promptevolve.autopilot.outbox import Outbox, relay
from promptevolve.core.errors import PromptevolveError, ValidationError
from promptevolve.core.ids import new_id
from promptevolve.jobs import rows
from promptevolve.jobs.kinds import JobKind, builtin_kinds
from promptevolve.jobs.models import JobDeps, JobInfo
from promptevolve.jobs.webhooks import make_webhook_job

__all__ = ["JobQueue", "settle_interrupted", "worker_name"]

log = logging.getLogger("promptevolve.jobs")


def worker_name() -> str:
    """``host:pid:random``: the host and pid tell a restarted process its own dead attempts."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"


def settle_interrupted(deps: JobDeps, kinds: Mapping[str, JobKind], job: JobInfo, reason: str) -> bool:
    """A reaper's verdict on an attempt whose worker died: queued again for kinds safe to resume (while
    attempts are left), else failed with ``reason`` (and the kind told, as for any final failure).
    False if another reaper, or the attempt itself, settled it first."""
    spec = kinds.get(job.kind)
    resume = bool(spec and spec.resume_after_interrupt)
    if not rows.interrupted(deps.store, job, reason=reason, resume=resume):
        return False
    log.warning("job %s (%s): %s", job.id, job.kind, reason)
    if spec is not None and rows.get(deps.store, job.id).status == "failed":
        spec.gave_up(deps, job, reason)
    return True


class JobQueue(ABC):
    def __init__(self, deps: JobDeps, *, kinds: Mapping[str, JobKind] | None = None) -> None:
        self.deps = deps
        self.kinds = dict(kinds) if kinds is not None else builtin_kinds()

    # --- what readers and writers call ----------------------------------------------------------------

    def defer(self, kind: str, payload: Mapping[str, Any], *, actor: str) -> JobInfo:
        """Store a job of ``kind`` and hand it to the engine; ``ValidationError`` for a bad request."""
        spec = self._kind(kind)
        job = rows.insert(
            self.deps.store, kind, spec.validate(payload), actor=actor, max_attempts=spec.attempts(self.deps)
        )
        self._hand_over(job)
        return job

    def get(self, job_id: str) -> JobInfo:
        return rows.get(self.deps.store, job_id)

    def list(
        self,
        *,
        kinds: Sequence[str] | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[JobInfo], int]:
        return rows.list_jobs(self.deps.store, kinds=kinds, status=status, limit=limit, offset=offset)

    def cancel(self, job_id: str) -> JobInfo:
        """Cancelled at once when queued, at its next checkpoint when running; ``ConflictError`` when
        already finished."""
        return rows.request_cancel(self.deps.store, job_id)

    def retry(self, job_id: str) -> JobInfo:
        """Queue a failed or cancelled job again, with its kind's attempts anew."""
        current = rows.get(self.deps.store, job_id)
        job = rows.retry(self.deps.store, job_id, extra_attempts=self._kind(current.kind).attempts(self.deps))
        self._hand_over(job)
        return job

    def outbox(self) -> Outbox:
        """The webhook sink of passes run in this process: stored, then relayed at once."""
        return Outbox(self.deps.store, on_stored=self.relay_outbox)

    def relay_outbox(self) -> int:
        """Give stored webhook deliveries their jobs (see ``autopilot.outbox.relay``)."""
        made = relay(
            self.deps.store, lambda session, delivery: make_webhook_job(self.deps, session, delivery)
        )
        for job_id in made:
            self._hand_over(rows.get(self.deps.store, job_id))
        return len(made)

    # --- the engine -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start this process's part of the engine (threads, connections)."""
        return None

    def close(self) -> None:
        """Stop it; attempts still running are found by the reaper of the next start."""
        return None

    @abstractmethod
    def _dispatch(self, job: JobInfo) -> None:
        """Make the engine run ``job`` (queued and stored)."""

    def _hand_over(self, job: JobInfo) -> None:
        try:
            self._dispatch(job)
        except PromptevolveError as exc:  # stored and queued: the engine's next sweep hands it over
            log.warning("job %s stored but not yet handed to the engine: %s", job.id, exc)

    def _kind(self, name: str) -> JobKind:
        spec = self.kinds.get(name)
        if spec is None:
            raise ValidationError(f"unknown job kind {name!r}: one of {', '.join(sorted(self.kinds))}")
        return spec
