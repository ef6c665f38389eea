"""The procrastinate engine with the real PostgreSQL and two worker processes: each job runs once; a
worker killed (SIGKILL) mid-run leaves a job that the other worker's reaper fails with the reason
(an evaluation: a person retries it) or runs again (a webhook delivery: safe to repeat), never lost,
never completed twice; a delivery stored in the outbox is sent even though nobody was running when it
was stored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.jobs.support import SECRET, colour_lab

from promptevolve.autopilot import Event, verify
from promptevolve.autopilot.notify import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from promptevolve.autopilot.outbox import Outbox, get_delivery
from promptevolve.jobs import JobDeps, JobInfo, JobSettings
from promptevolve.jobs.procrastinate_engine import ProcrastinateQueue
from promptevolve.store.engine import Store

ROOT = Path(__file__).resolve().parents[2]
EVALUATE = {"prompt": "colours", "dataset": "colours", "split": "train"}


class Workers:
    """``promptevolve`` procrastinate workers in processes of their own."""

    def __init__(self, url: str, latency_s: float, log_dir: Path) -> None:
        self.url, self.latency, self.log_dir = url, latency_s, log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int, store: Store) -> None:
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
        for i in range(n):
            log = (self.log_dir / f"worker{len(self.procs)}-{i}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.jobs.worker_process", self.url, str(self.latency)],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        until(lambda: registered(store) >= n, what=f"{n} workers registered", timeout_s=60)

    def alive(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def registered(store: Store) -> int:
    with store.engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is None:
            return 0
        return int(conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar_one())


def until(check, *, what: str, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def engine_status(store: Store, job: JobInfo) -> str:
    with store.engine.connect() as conn:
        ref = conn.execute(text("SELECT engine_ref FROM jobs WHERE id = :i"), {"i": job.id}).scalar_one()
        found = conn.execute(text("SELECT status FROM procrastinate_jobs WHERE id = :r"), {"r": int(ref)})
        return str(found.scalar() or "deleted")


def pid_of(job: JobInfo) -> int:
    assert job.worker is not None
    return int(job.worker.split(":")[1])


@pytest.fixture
def lab(postgres_database_url: str, tmp_path: Path) -> Iterator[tuple[Store, ProcrastinateQueue, Workers]]:
    store = Store.from_url(postgres_database_url)
    colour_lab(store, tmp_path)
    queue = ProcrastinateQueue(JobDeps(store=store), settings=JobSettings(engine="procrastinate"))
    queue.start()
    workers = Workers(postgres_database_url, latency_s=0.3, log_dir=tmp_path)
    try:
        yield store, queue, workers
    finally:
        workers.stop()
        queue.close()
        store.dispose()


def test_two_workers_share_the_jobs_and_run_each_once(lab) -> None:
    store, queue, workers = lab
    workers.start(2, store)
    jobs = [queue.defer("evaluate", {**EVALUATE, "max_items": 3}, actor="t") for _ in range(12)]
    until(lambda: all(queue.get(j.id).status == "succeeded" for j in jobs), what="12 jobs done", timeout_s=90)
    done = [queue.get(j.id) for j in jobs]
    assert all(j.attempts == 1 and j.result is not None and j.result["items"] == 3 for j in done)
    assert {pid_of(j) for j in done} == set(workers.alive())  # both took some
    assert {engine_status(store, j) for j in done} == {"deleted"}  # procrastinate forgets what succeeded


def test_an_evaluation_whose_worker_is_killed_fails_with_the_reason_and_runs_again_on_retry(lab) -> None:
    store, queue, workers = lab
    workers.start(2, store)
    job = queue.defer("evaluate", EVALUATE, actor="t")
    until(
        lambda: (queue.get(job.id).progress or {}).get("calls", 0) >= 3,
        what="the evaluation under way",
        timeout_s=60,
    )
    victim = pid_of(queue.get(job.id))
    os.kill(victim, signal.SIGKILL)
    until(lambda: queue.get(job.id).status == "failed", what="the reaper fails the job", timeout_s=60)
    failed = queue.get(job.id)
    assert failed.error_code == "interrupted" and failed.attempts == 1
    assert failed.error is not None and "stopped mid-run" in failed.error and str(victim) in failed.error
    assert failed.result is None
    # The reaper fails our row first, then procrastinate's (so a reaper dying in between leaves a job it
    # will find again): the engine's side follows a moment later.
    until(lambda: engine_status(store, failed) == "failed", what="procrastinate's row failed", timeout_s=30)
    (survivor,) = workers.alive()
    assert queue.retry(job.id).status == "queued"
    until(lambda: queue.get(job.id).status == "succeeded", what="the retry runs", timeout_s=60)
    again = queue.get(job.id)
    assert again.attempts == 2 and pid_of(again) == survivor and again.result is not None


class SlowReceiver:
    """Verifies signatures; holds the first request ``hold_s`` seconds (a worker can die meanwhile)."""

    def __init__(self, hold_s: float) -> None:
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                valid = verify(
                    SECRET,
                    self.headers[TIMESTAMP_HEADER],
                    body,
                    self.headers[SIGNATURE_HEADER],
                    now=time.time(),
                )
                first = not receiver.requests
                receiver.requests.append(
                    {"valid": valid, "delivery": self.headers[DELIVERY_HEADER], "body": json.loads(body)}
                )
                if first:
                    time.sleep(hold_s)
                try:
                    self.send_response(200 if valid else 401)
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_webhook_stored_while_no_worker_ran_is_delivered_even_when_its_worker_is_killed_mid_post(
    lab,
) -> None:
    store, _queue, workers = lab
    receiver = SlowReceiver(hold_s=6.0)
    try:
        event = Event("ramp_step", "colours", "ramp_step", "treatment to 25 %", {"share": 25}, 7, 3)
        Outbox(store).send(
            receiver.url, SECRET, event
        )  # stored; nothing runs yet (a restart here loses nothing)
        assert get_delivery(store, event.id).status == "pending"
        workers.start(2, store)
        until(lambda: len(receiver.requests) >= 1, what="the first post arrives")
        with store.engine.connect() as conn:
            worker = conn.execute(text("SELECT worker FROM jobs WHERE kind = 'webhook'")).scalar_one()
        os.kill(int(worker.split(":")[1]), signal.SIGKILL)
        until(lambda: get_delivery(store, event.id).status == "delivered", what="delivered", timeout_s=60)
    finally:
        receiver.close()
    assert [r["delivery"] for r in receiver.requests] == [event.id, event.id]  # the same id: de-duplicable
    assert all(r["valid"] for r in receiver.requests) and receiver.requests[1]["body"]["figures"] == {
        "share": 25
    }
    with store.engine.connect() as conn:
        status, attempts, error = conn.execute(
            text("SELECT status, attempts, error FROM jobs WHERE kind = 'webhook'")
        ).one()
    assert status == "succeeded" and attempts == 2 and error is None  # the killed attempt, then this one
    assert get_delivery(store, event.id).attempts == 1  # one attempt completed: the delivered one
