"""One attempt of one job, the same on every engine: claim, run with a heartbeat, record the outcome.

The engine (the embedded runner or a procrastinate worker) only says "run job X now"; what the attempt
does is decided here, so both engines keep the same promises:

- **at most one attempt at a time**: ``rows.claim`` turns ``queued`` into ``running`` in one
  conditional update; an engine that delivers a job twice (a duplicate dispatch, a retry racing a
  person's cancel) finds it taken and does nothing;
- **a heartbeat** every ``heartbeat_s`` on the row while the kind runs, read back by the reapers to
  find attempts whose worker died; it also carries a person's cancel to the attempt (``Checkpoint``);
- **retries with backoff**: an error the kind calls retryable (the store or a model unreachable) queues
  the job again after ``backoff_s · 2^(attempt-1)`` (at most 10 minutes) while attempts are left; any
  other error, or the last attempt's, fails it with the error's message and code;
- **cancellation at checkpoints**: the kind calls ``Checkpoint.progress`` / ``check`` at its natural
  steps, which raise ``JobCancelledError`` once a cancel was asked; the job ends ``cancelled``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from promptevolve.core.errors import JobCancelledError, PromptevolveError
from promptevolve.jobs import rows
from promptevolve.jobs.kinds import JobKind
from promptevolve.jobs.models import JobDeps, JobInfo
from promptevolve.store.engine import Store

__all__ = ["Checkpoint", "Outcome", "describe_error", "execute"]

log = logging.getLogger("promptevolve.jobs")

_MAX_BACKOFF_S = 600.0


@dataclass(frozen=True, slots=True)
class Outcome:
    job_id: str
    status: Literal["succeeded", "failed", "cancelled", "retry", "skipped", "lost"]
    retry_at: float | None = None


class Checkpoint:
    """A running attempt's line to its row: ``progress`` writes what the job has done (at most every
    ``every_s`` unless the stage changes) and ``check`` raises ``JobCancelledError`` once a cancel was
    asked. ``stop`` is set when a cancel is seen, for code that polls an event between its natural
    steps (the autopilot's pass between prompts)."""

    def __init__(self, store: Store, job: JobInfo, *, every_s: float = 0.5) -> None:
        self.job, self._store, self._every = job, store, every_s
        self.stop = threading.Event()
        self._last = 0.0
        self._stage: object = None
        self._unwritten: Mapping[str, Any] | None = None

    def progress(self, doc: Mapping[str, Any]) -> None:
        now = time.monotonic()
        stage = doc.get("stage")
        if stage != self._stage or now - self._last >= self._every:
            self._stage, self._last, self._unwritten = stage, now, None
            if rows.set_progress(self._store, self.job, doc):
                self.stop.set()
        else:
            self._unwritten = doc
        self.check()

    def flush(self) -> None:
        """Write the last progress the throttle held back (when the attempt ends)."""
        if self._unwritten is not None:
            rows.set_progress(self._store, self.job, self._unwritten)
            self._unwritten = None

    def check(self) -> None:
        if self.stop.is_set():
            raise JobCancelledError(f"job {self.job.id} was cancelled")


class _Heartbeat(threading.Thread):
    def __init__(self, store: Store, job: JobInfo, point: Checkpoint, every_s: float) -> None:
        super().__init__(name=f"job-heartbeat-{job.id[-6:]}", daemon=True)
        self._store, self._job, self._point, self._every = store, job, point, every_s
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self._every):
            try:
                if rows.heartbeat(self._store, self._job, now=time.time()):
                    self._point.stop.set()
            except PromptevolveError as exc:  # the store is down: the attempt goes on, the reaper waits
                log.warning("job %s: heartbeat not written: %s", self._job.id, exc)

    def close(self) -> None:
        self._done.set()


def describe_error(exc: BaseException) -> tuple[str, str]:
    """The message and code a reader sees; an unexpected error names only its type (details in the log)."""
    if isinstance(exc, PromptevolveError):
        return str(exc), exc.code
    return f"internal error ({type(exc).__name__}); the worker's log has the details", "internal"


def execute(
    deps: JobDeps, kinds: Mapping[str, JobKind], job_id: str, *, worker: str, heartbeat_s: float = 5.0
) -> Outcome:
    """Run one attempt of ``job_id`` if it is queued and due (see the module docstring)."""
    job = rows.claim(deps.store, job_id, worker=worker, now=time.time())
    if job is None:
        return Outcome(job_id, "skipped")
    kind = kinds.get(job.kind)
    if kind is None:
        rows.finish(
            deps.store, job, "failed", error=f"unknown job kind {job.kind!r}", error_code="validation"
        )
        return Outcome(job_id, "failed")
    point = Checkpoint(deps.store, job)
    beat = _Heartbeat(deps.store, job, point, heartbeat_s)
    beat.start()
    try:
        return _attempt(deps, kind, job, point)
    finally:
        beat.close()


def _attempt(deps: JobDeps, kind: JobKind, job: JobInfo, point: Checkpoint) -> Outcome:
    try:
        result = kind.run(deps, job, point)
        point.flush()
    except JobCancelledError:
        done = rows.finish(deps.store, job, "cancelled", error="cancelled on request", error_code="cancelled")
        return Outcome(job.id, "cancelled" if done else "lost")
    except Exception as exc:
        message, code = describe_error(exc)
        if not isinstance(exc, PromptevolveError):
            log.exception("job %s (%s) failed", job.id, job.kind)
        if kind.retryable(exc) and job.attempts < job.max_attempts:
            at = time.time() + min(kind.backoff_s * 2 ** (job.attempts - 1), _MAX_BACKOFF_S)
            done = rows.requeue(deps.store, job, run_after=at, error=message, error_code=code)
            return Outcome(job.id, "retry", at) if done else Outcome(job.id, "lost")
        kind.gave_up(deps, job, message)
        done = rows.finish(deps.store, job, "failed", error=message, error_code=code)
        return Outcome(job.id, "failed" if done else "lost")
    done = rows.finish(deps.store, job, "succeeded", result=result)
    return Outcome(job.id, "succeeded" if done else "lost")
