"""The procrastinate engine: jobs delivered to ``promptevolve worker`` processes through PostgreSQL.

procrastinate (3.x, the ``workers`` extra) keeps its own tables beside ours (``procrastinate_jobs``,
``procrastinate_workers``, …; applied by ``ensure_schema`` under an advisory lock the first time a
queue or worker starts) and gives each of its jobs to exactly one worker (``SELECT … FOR UPDATE SKIP
LOCKED``), woken by ``LISTEN/NOTIFY``. One procrastinate task, ``promptevolve.run_job(job_id)``, runs
one attempt of one of our jobs through ``execute``; everything a reader sees stays in our ``jobs`` row.

- **Deferring** (``ProcrastinateQueue``, used by ``serve``): store the row, then defer the task; if
  the process dies between the two, a worker's sweep defers the rows left without an engine job.
- **Retries**: an attempt that failed retryably has queued our row again with its backoff; the task
  raises ``_RetryLater`` and procrastinate's retry strategy schedules the same task at that time.
- **A worker killed mid-run** (SIGKILL, a lost machine): its procrastinate job stays ``doing`` and its
  worker's heartbeat (``procrastinate_workers``, every ``heartbeat_s``) stops. Every worker's reaper,
  every ``stalled_s / 3``, asks procrastinate for the jobs of workers silent for ``stalled_s``
  (``JobManager.get_stalled_jobs``) and settles each: our row's attempt is failed with the reason, or
  queued again for kinds safe to resume (``kinds``), and the procrastinate job is retried or marked
  failed to match. Both steps are conditional, so two reapers settling the same job do it once.
- **Cancelling** needs nothing from procrastinate: a queued row cancelled is never claimed (the task
  finds it so and returns), a running one stops at its checkpoint.
- **Retention**: once an hour each worker prunes our old finished jobs and webhook deliveries
  (``jobs.retention``, in a task of its own so the reaper never waits for it) and defers procrastinate's
  builtin ``remove_old_jobs`` (wrapped as ``promptevolve.remove_old_jobs`` on our queue) for its own
  failed, cancelled and aborted jobs finished as long ago (a successful one is already deleted when it
  ends: ``delete_jobs="successful"``); a queueing lock keeps one waiting however many workers defer it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import App, JobContext, PsycopgConnector, SyncPsycopgConnector, builtin_tasks
from procrastinate.exceptions import AlreadyEnqueued, ProcrastinateException
from procrastinate.jobs import Job, Status
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.schema import SchemaManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from promptevolve.core.errors import NotFoundError, PromptevolveError, StoreUnavailableError
from promptevolve.jobs import rows
from promptevolve.jobs.execute import execute
from promptevolve.jobs.kinds import JobKind
from promptevolve.jobs.models import JobDeps, JobInfo
from promptevolve.jobs.queue import JobQueue, settle_interrupted, worker_name
from promptevolve.jobs.retention import Pruner
from promptevolve.jobs.settings import JobSettings
from promptevolve.store.engine import Store

__all__ = [
    "QUEUE",
    "REMOVE_OLD_JOBS",
    "TASK",
    "ProcrastinateQueue",
    "conninfo",
    "defer_remove_old_jobs",
    "ensure_schema",
    "run_worker",
]

log = logging.getLogger("promptevolve.jobs")

TASK = "promptevolve.run_job"
QUEUE = "promptevolve"
#: Our task that runs procrastinate's builtin cleanup on our queue (``build_worker_app``).
REMOVE_OLD_JOBS = "promptevolve.remove_old_jobs"
_SCHEMA_LOCK = 0x70726F63  # "proc": the advisory lock under which the schema is applied once
_SWEEP_AFTER_S = 10.0


def conninfo(store: Store) -> str:
    """The store's URL as libpq takes it (procrastinate's connectors speak psycopg, not SQLAlchemy)."""
    return make_url(store.url).set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_schema(store: Store) -> bool:
    """Apply procrastinate's schema to the store's database unless it is there; True if applied."""
    with store.engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        # Through the driver without parameters: the schema's SQL holds literal % signs.
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(SchemaManager.get_schema())
        return True


class _RetryLater(Exception):
    def __init__(self, delay_s: float) -> None:
        super().__init__(f"retry in {delay_s:.2f} s")
        self.delay_s = max(delay_s, 0.0)


class _Backoff(BaseRetryStrategy):
    """Retry exactly when our row says (its backoff), and only then."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, _RetryLater):
            return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=exception.delay_s))
        return None


class ProcrastinateQueue(JobQueue):
    """Stores rows and defers them to procrastinate; runs nothing in this process."""

    def __init__(
        self, deps: JobDeps, *, settings: JobSettings, kinds: Mapping[str, JobKind] | None = None
    ) -> None:
        super().__init__(deps, kinds=kinds)
        self.settings = settings
        self._app = App(connector=SyncPsycopgConnector(conninfo=conninfo(deps.store)))
        self._open = False

    def start(self) -> None:
        ensure_schema(self.deps.store)
        self._app.open()
        self._open = True

    def close(self) -> None:
        if self._open:
            self._app.close()
            self._open = False

    def _dispatch(self, job: JobInfo) -> None:
        if not self._open:
            self.start()
        try:
            ref = self._app.configure_task(TASK, queue=QUEUE).defer(job_id=job.id)
        except ProcrastinateException as exc:
            raise StoreUnavailableError(f"job {job.id} not deferred to procrastinate: {exc}") from exc
        rows.set_engine_ref(self.deps.store, job.id, str(ref))

    def sweep(self) -> int:
        """Defer queued rows that never reached procrastinate (their server died in between)."""
        ids = rows.never_handed_over(self.deps.store, made_before=time.time() - _SWEEP_AFTER_S)
        for job_id in ids:
            self._hand_over(rows.get(self.deps.store, job_id))
        return len(ids)


# --- the worker -------------------------------------------------------------------------------------


def _settle(deps: JobDeps, kinds: Mapping[str, JobKind], stalled: Job, stalled_s: float) -> str:
    """What the reaper does with one procrastinate job of a silent worker: ``retry`` or ``fail`` it."""
    job_id = str(stalled.task_kwargs.get("job_id", ""))
    try:
        ours = rows.get(deps.store, job_id)
    except NotFoundError:
        return "fail"
    if ours.status == "running":
        reason = f"interrupted: worker {ours.worker} stopped mid-run (no heartbeat for {stalled_s:.0f} s)"
        settle_interrupted(deps, kinds, ours, reason)
        ours = rows.get(deps.store, job_id)
    return "retry" if ours.status == "queued" else "fail"


async def _reap(app: App, deps: JobDeps, kinds: Mapping[str, JobKind], stalled_s: float) -> int:
    settled = 0
    for stalled in await app.job_manager.get_stalled_jobs(task_name=TASK, seconds_since_heartbeat=stalled_s):
        verdict = await asyncio.to_thread(_settle, deps, kinds, stalled, stalled_s)
        try:
            if verdict == "retry":
                await app.job_manager.retry_job(stalled)
            else:
                await app.job_manager.finish_job(stalled, status=Status.FAILED, delete_job=False)
            settled += 1
        except ProcrastinateException as exc:  # another reaper settled it first
            log.info("stalled job %s already settled: %s", stalled.id, exc)
    return settled


async def _maintain(
    app: App, queue: ProcrastinateQueue, deps: JobDeps, kinds: Mapping[str, JobKind], settings: JobSettings
) -> None:
    """The worker's own chores: reap stalled jobs, relay the webhook outbox, sweep undeferred rows."""
    while True:
        try:
            await _reap(app, deps, kinds, settings.stalled_s)
            await asyncio.to_thread(queue.relay_outbox)
            await asyncio.to_thread(queue.sweep)
        except (PromptevolveError, ProcrastinateException) as exc:  # the database is away: next round
            log.warning("worker maintenance failed: %s", exc)
        except Exception:
            log.exception("worker maintenance crashed")
        await asyncio.sleep(min(settings.stalled_s / 3, settings.poll_s * 5))


async def defer_remove_old_jobs(app: App, *, retention_days: int) -> bool:
    """Defer ``REMOVE_OLD_JOBS`` (procrastinate's builtin ``remove_old_jobs``, see ``build_worker_app``)
    for our jobs whose last event is older than ``retention_days``. False when one is already waiting
    (its queueing lock), so several workers deferring it in the same hour leave one."""
    deferrer = app.configure_task(REMOVE_OLD_JOBS, allow_unknown=False, queueing_lock=REMOVE_OLD_JOBS)
    try:
        await deferrer.defer_async(retention_days=retention_days)
    except AlreadyEnqueued:
        return False
    return True


async def _retain(app: App, pruner: Pruner, poll_s: float) -> None:
    """Prune our tables when the pruner's hour passed, then have procrastinate prune its own."""
    while True:
        try:
            if await asyncio.to_thread(pruner.run_if_due) is not None:
                await defer_remove_old_jobs(app, retention_days=pruner.retention_days)
        except (PromptevolveError, ProcrastinateException) as exc:  # the database is away: next hour
            log.warning("worker retention failed: %s", exc)
        except Exception:
            log.exception("worker retention crashed")
        await asyncio.sleep(poll_s)


def build_worker_app(deps: JobDeps, kinds: Mapping[str, JobKind], *, name: str, heartbeat_s: float) -> App:
    """A procrastinate app whose one task runs our jobs' attempts in ``deps``."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(deps.store)))

    @app.task(name=TASK, queue=QUEUE, retry=_Backoff())
    def run_job(job_id: str) -> dict[str, Any]:
        try:
            current = rows.get(deps.store, job_id)
        except NotFoundError:
            return {"job_id": job_id, "status": "unknown"}
        wait = current.run_after - time.time()
        if current.status == "queued" and wait > 0:  # procrastinate's clock ran ahead of our backoff
            raise _RetryLater(wait + 0.05)
        outcome = execute(deps, kinds, job_id, worker=name, heartbeat_s=heartbeat_s)
        if outcome.status == "retry" and outcome.retry_at is not None:
            raise _RetryLater(outcome.retry_at - time.time())
        return {"job_id": job_id, "status": outcome.status}

    # procrastinate's builtin ``remove_old_jobs`` under a name of ours, on our queue, as its docs show for
    # running it periodically. Not deferred by its own name: the builtin lives in a module-level
    # blueprint that every ``App`` re-namespaces, so in a process that builds two apps (``run_worker``
    # does: the queue's and this one) it is named ``builtin:builtin:…`` and the first app's name for it
    # no longer resolves (``TaskNotFound``, seen in our tests).
    @app.task(name=REMOVE_OLD_JOBS, queue=QUEUE, pass_context=True)
    async def remove_old_jobs(context: JobContext, retention_days: int) -> None:
        await builtin_tasks.remove_old_jobs(
            context,
            max_hours=retention_days * 24,
            queue=QUEUE,
            remove_failed=True,
            remove_cancelled=True,
            remove_aborted=True,
        )

    return app


def run_worker(
    deps: JobDeps,
    settings: JobSettings,
    *,
    concurrency: int = 1,
    kinds: Mapping[str, JobKind] | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Run a procrastinate worker until SIGINT / SIGTERM (``promptevolve worker``)."""
    from promptevolve.jobs.kinds import builtin_kinds

    every = dict(kinds) if kinds is not None else builtin_kinds()
    name = worker_name()
    ensure_schema(deps.store)
    queue = ProcrastinateQueue(deps, settings=settings, kinds=every)
    queue.start()
    app = build_worker_app(deps, every, name=name, heartbeat_s=settings.heartbeat_s)
    pruner = Pruner.from_settings(deps.store, settings)

    async def main() -> None:
        async with app.open_async():
            chores = [asyncio.create_task(_maintain(app, queue, deps, every, settings))]
            if pruner is not None:
                chores.append(asyncio.create_task(_retain(app, pruner, settings.poll_s)))
            try:
                await app.run_worker_async(
                    queues=[QUEUE],
                    name=name,
                    concurrency=concurrency,
                    install_signal_handlers=install_signal_handlers,
                    update_heartbeat_interval=settings.heartbeat_s,
                    stalled_worker_timeout=settings.stalled_s,
                    fetch_job_polling_interval=settings.poll_s,
                    delete_jobs="successful",
                )
            finally:
                for chore in chores:
                    chore.cancel()

    log.info("worker %s: %d at once, queue %s", name, concurrency, QUEUE)
    try:
        asyncio.run(main())
    finally:
        queue.close()
