"""Background jobs: evaluations, evolutions, autopilot passes and webhook deliveries, stored as rows.

One module per job: ``models`` (what a job is), ``rows`` (the table's reads and writes), ``kinds`` and
``webhooks`` (what each kind runs), ``execute`` (one attempt: claim, heartbeat, retry, cancel),
``queue`` (the ``JobQueue`` interface), ``embedded`` (threads in this process, the default) and
``procrastinate_engine`` (procrastinate workers on PostgreSQL, the ``workers`` extra), ``settings``.
See docs/design.md, "Jobs on a task engine".
"""

from promptevolve.jobs.embedded import EmbeddedQueue
from promptevolve.jobs.execute import Checkpoint, Outcome, execute
from promptevolve.jobs.kinds import (
    AutopilotPassRequest,
    EvaluateRequest,
    JobKind,
    builtin_kinds,
)
from promptevolve.jobs.models import FINAL, JobDeps, JobInfo, JobStatus
from promptevolve.jobs.queue import JobQueue, worker_name
from promptevolve.jobs.settings import JobSettings, load_job_settings, open_queue

__all__ = [
    "FINAL",
    "AutopilotPassRequest",
    "Checkpoint",
    "EmbeddedQueue",
    "EvaluateRequest",
    "JobDeps",
    "JobInfo",
    "JobKind",
    "JobQueue",
    "JobSettings",
    "JobStatus",
    "Outcome",
    "builtin_kinds",
    "execute",
    "load_job_settings",
    "open_queue",
    "worker_name",
]
