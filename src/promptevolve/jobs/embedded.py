"""The embedded engine: jobs run on threads of this process, from the rows of the ``jobs`` table.

The default, with SQLite or PostgreSQL, nothing to install or start. ``threads`` threads poll the table
(every ``poll_s``, or at once when a job is deferred here) and run each due job through ``execute``,
whose conditional claim lets several processes share one database safely (each job runs in one of
them). Each poll also relays the webhook outbox and reaps dead attempts:

- **at start-up**, a job ``running`` on this host under a process that no longer exists (or under this
  very pid: the process restarted) was interrupted by the restart: it is marked failed with the reason
  "interrupted by a restart", or queued again for the kinds that are safe to resume (``kinds``), and a
  failed one can be retried (``POST /jobs/{id}/retry``);

A runner only takes the kinds it was given (``kinds``): the CLI's autopilot runs one for webhook
deliveries alone, beside a server that runs the rest.
- **at any time**, a ``running`` job whose heartbeat is older than ``stalled_s`` belongs to a process
  that died elsewhere (another replica): the same, with that reason.

Given a ``Pruner`` (``jobs.retention``), a thread of its own deletes old finished jobs and webhook
deliveries once an hour, so that a long first prune never holds up the jobs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

from promptevolve.core.errors import PromptevolveError
from promptevolve.jobs import rows
from promptevolve.jobs.execute import Outcome, execute
from promptevolve.jobs.kinds import JobKind
from promptevolve.jobs.models import JobDeps, JobInfo
from promptevolve.jobs.queue import JobQueue, settle_interrupted, worker_name
from promptevolve.jobs.retention import Pruner

__all__ = ["EmbeddedQueue"]

log = logging.getLogger("promptevolve.jobs")


def _gone(worker: str | None) -> bool:
    """Whether ``worker`` (``host:pid:token``) was a process of this host that is not running now."""
    host, _, rest = (worker or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # this pid, but not this process's name: a restart reused the pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class EmbeddedQueue(JobQueue):
    def __init__(
        self,
        deps: JobDeps,
        *,
        kinds: Mapping[str, JobKind] | None = None,
        threads: int = 1,
        poll_s: float = 1.0,
        heartbeat_s: float = 5.0,
        stalled_s: float = 30.0,
        pruner: Pruner | None = None,
    ) -> None:
        super().__init__(deps, kinds=kinds)
        self.pruner = pruner
        self.worker = worker_name()
        self._threads_wanted, self._poll, self._heartbeat, self._stalled = (
            threads,
            poll_s,
            heartbeat_s,
            stalled_s,
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._reaped_at = 0.0
        self._maintenance = threading.Lock()

    def start(self) -> None:
        try:
            self.recover()
        except PromptevolveError as exc:  # the store is down: the loop's reaper tries again
            log.warning("jobs not recovered at start-up: %s", exc)
        for n in range(self._threads_wanted):
            thread = threading.Thread(target=self._loop, name=f"promptevolve-jobs-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.pruner is not None:
            thread = threading.Thread(target=self._retain, name="promptevolve-retention", daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self, timeout_s: float = 2.0) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)

    def recover(self) -> list[JobInfo]:
        """Attempts of dead processes: of this host's restarted or vanished ones, and any whose heartbeat
        is older than ``stalled_s``; each is failed with the reason or queued again (module docstring)."""
        now = time.time()
        gone = [w for w in rows.running_workers(self.deps.store) if w != self.worker and _gone(w)]
        found = rows.running_on(self.deps.store, stalled_before=now - self._stalled, workers=gone)
        done = []
        for job in found:
            if job.worker == self.worker or job.kind not in self.kinds:
                continue
            reason = (
                f"interrupted by a restart (worker {job.worker} stopped mid-run)"
                if _gone(job.worker)
                else f"interrupted: worker {job.worker} sent no heartbeat for {self._stalled:.0f} s"
            )
            if settle_interrupted(self.deps, self.kinds, job, reason):
                done.append(job)
        self._reaped_at = now
        return done

    def run_pending(self) -> list[Outcome]:
        """One poll in the calling thread: relay the outbox, reap if due, run every due job."""
        with self._maintenance:
            self.relay_outbox()
            if time.time() - self._reaped_at >= self._stalled / 3:
                self.recover()
        outcomes = []
        while not self._stopping.is_set():
            due = rows.claimable(self.deps.store, now=time.time(), kinds=list(self.kinds), limit=1)
            if not due:
                break
            outcome = execute(self.deps, self.kinds, due[0], worker=self.worker, heartbeat_s=self._heartbeat)
            outcomes.append(outcome)
        return outcomes

    def drain(self, timeout_s: float) -> bool:
        """Run due jobs in the calling thread until none is queued or ``timeout_s`` passed (waiting out
        backoffs); True when the queue emptied. For ``autopilot run --once`` and tests."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.run_pending()
            if not rows.list_jobs(self.deps.store, kinds=list(self.kinds), status="queued", limit=1)[1]:
                return True
            time.sleep(min(0.05, max(end - time.monotonic(), 0)))
        return False

    def _dispatch(self, job: JobInfo) -> None:
        self._wake.set()

    def _retain(self) -> None:
        """Ask the pruner at every poll (a comparison of two floats); it prunes when its hour passed."""
        assert self.pruner is not None
        while not self._stopping.is_set():
            try:
                self.pruner.run_if_due()
            except PromptevolveError as exc:  # the store is down: the pruner tries again next hour
                log.warning("retention prune failed: %s", exc)
            except Exception:  # the thread must not die: log and go on
                log.exception("retention prune crashed")
            self._stopping.wait(self._poll)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_pending()
            except PromptevolveError as exc:  # the store is down: try again at the next poll
                log.warning("jobs poll failed: %s", exc)
            except Exception:  # the loop must not die: log and go on
                log.exception("jobs poll crashed")
            self._wake.wait(self._poll)
            self._wake.clear()
