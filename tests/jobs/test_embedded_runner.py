"""The embedded engine on SQLite and PostgreSQL: jobs are rows that run on threads of this process,
report progress, stop at a checkpoint when cancelled, and survive a restart as failed-with-the-reason
(then retried by a person) or, for kinds safe to resume, as queued again."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from tests.jobs.support import colour_lab, dead_pid, queue

from promptevolve.core.errors import ConflictError, ValidationError
from promptevolve.jobs import rows
from promptevolve.store.engine import Store

EVALUATE = {"prompt": "colours", "dataset": "colours", "split": "train"}


def wait_status(q, job_id: str, statuses: tuple[str, ...], timeout_s: float = 30.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        job = q.get(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} is still {q.get(job_id).status}")


def test_an_evaluation_job_writes_its_progress_and_result(store: Store, tmp_path: Path) -> None:
    q = queue(store, colour_lab(store, tmp_path))
    job = q.defer("evaluate", EVALUATE, actor="tester")
    assert job.status == "queued" and job.max_attempts == 3 and q.get(job.id).kind == "evaluate"
    assert q.drain(30)
    done = q.get(job.id)
    assert done.status == "succeeded" and done.attempts == 1 and done.error is None
    assert done.result is not None and done.result["variant"] == "colours@1.0.0"
    assert done.result["items"] > 0 and done.result["score"] is not None
    assert done.progress is not None and done.progress["stage"] == "evaluate" and done.progress["calls"] > 0
    assert q.list(kinds=["evaluate"]) == ([done], 1)


def test_a_bad_request_is_refused_before_anything_is_stored(store: Store) -> None:
    q = queue(store)
    with pytest.raises(ValidationError, match="unknown job kind"):
        q.defer("mine_bitcoin", {}, actor="tester")
    with pytest.raises(ValidationError, match="bad job request"):
        q.defer("evaluate", {"prompt": "colours"}, actor="tester")
    assert q.list() == ([], 0)


def test_a_queued_job_cancelled_never_runs(store: Store, tmp_path: Path) -> None:
    provider = colour_lab(store, tmp_path)
    q = queue(store, provider)
    job = q.defer("evaluate", EVALUATE, actor="tester")
    assert q.cancel(job.id).status == "cancelled"
    assert q.drain(5)
    assert q.get(job.id).status == "cancelled" and provider.call_count == 0
    with pytest.raises(ConflictError, match="already cancelled"):
        q.cancel(job.id)


def test_a_running_job_stops_at_its_next_checkpoint_when_cancelled(store: Store, tmp_path: Path) -> None:
    provider = colour_lab(store, tmp_path, latency_s=0.05)
    q = queue(store, provider)
    q.start()
    try:
        job = q.defer("evaluate", EVALUATE, actor="tester")
        end = time.monotonic() + 30
        while provider.call_count < 3 and time.monotonic() < end:
            time.sleep(0.01)
        assert q.cancel(job.id).cancel_requested
        stopped = wait_status(q, job.id, ("cancelled", "succeeded", "failed"))
    finally:
        q.close()
    assert stopped.status == "cancelled" and stopped.error == "cancelled on request"
    assert provider.call_count < 20  # the train split has 24 items, each a call: it stopped early


def test_a_job_running_when_its_process_died_is_failed_at_start_up_and_can_be_retried(
    store: Store, tmp_path: Path
) -> None:
    provider = colour_lab(store, tmp_path)
    job = rows.insert(store, "evaluate", EVALUATE, actor="tester", max_attempts=3)
    dead = f"{socket.gethostname()}:{dead_pid()}:abcdef"
    assert rows.claim(store, job.id, worker=dead, now=time.time()) is not None
    q = queue(store, provider)  # the restarted process
    assert [j.id for j in q.recover()] == [job.id]
    failed = q.get(job.id)
    assert failed.status == "failed" and failed.error_code == "interrupted"
    assert failed.error is not None and failed.error.startswith("interrupted by a restart")
    assert q.retry(job.id).status == "queued"
    assert q.drain(30)
    again = q.get(job.id)
    assert again.status == "succeeded" and again.attempts == 2 and again.error is None


def test_a_job_whose_heartbeat_stopped_on_another_host_is_reaped(store: Store, tmp_path: Path) -> None:
    job = rows.insert(store, "autopilot_pass", {"prompts": None}, actor="tester", max_attempts=3)
    claimed = rows.claim(store, job.id, worker="elsewhere:1:abcdef", now=time.time() - 120)
    assert claimed is not None
    q = queue(store, stalled_s=30)
    assert [j.id for j in q.recover()] == [job.id]
    resumed = q.get(job.id)  # a pass is safe to run again: queued, not failed
    assert resumed.status == "queued" and "no heartbeat for 30 s" in (resumed.error or "")
    assert q.drain(30) and q.get(job.id).status == "succeeded" and q.get(job.id).attempts == 2


def test_a_live_job_of_another_process_is_left_alone(store: Store) -> None:
    job = rows.insert(store, "autopilot_pass", {}, actor="tester", max_attempts=3)
    assert rows.claim(store, job.id, worker="elsewhere:1:abcdef", now=time.time()) is not None
    assert queue(store).recover() == [] and rows.get(store, job.id).status == "running"


def test_a_late_attempt_cannot_overwrite_the_attempt_that_replaced_it(store: Store) -> None:
    job = rows.insert(store, "autopilot_pass", {}, actor="tester", max_attempts=3)
    first = rows.claim(store, job.id, worker="w1", now=time.time())
    assert first is not None and rows.interrupted(store, first, reason="gone", resume=True)
    second = rows.claim(store, job.id, worker="w2", now=time.time())
    assert second is not None and second.attempts == 2
    assert not rows.finish(store, first, "succeeded", result={"late": True})  # the zombie loses
    assert rows.finish(store, second, "succeeded", result={"ok": True})
    assert rows.get(store, job.id).result == {"ok": True}
