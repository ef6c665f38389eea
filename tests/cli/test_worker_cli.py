"""`promptevolve worker`: on PostgreSQL a real worker process runs the jobs a server defers and stops on
SIGTERM (exit 0); on SQLite it refuses with exit 2 and says why (the server runs jobs itself there)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from promptevolve.cli.app import app
from promptevolve.jobs import JobDeps, JobSettings
from promptevolve.jobs.procrastinate_engine import ProcrastinateQueue
from promptevolve.store.engine import Store


def test_worker_runs_the_jobs_of_a_postgresql_store_and_refuses_sqlite(backend, database_url):
    if backend == "sqlite":
        result = CliRunner().invoke(app, ["worker"], env={"PROMPTEVOLVE_DATABASE_URL": database_url})
        assert result.exit_code == 2 and "worker needs PostgreSQL" in result.stderr
        return
    store = Store.from_url(database_url)
    queue = ProcrastinateQueue(JobDeps(store=store), settings=JobSettings(engine="procrastinate"))
    queue.start()
    env = {**os.environ, "PROMPTEVOLVE_DATABASE_URL": database_url, "PROMPTEVOLVE_JOBS_POLL_S": "0.2"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "promptevolve.cli.app", "worker", "--concurrency", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        job = queue.defer("autopilot_pass", {}, actor="cli-test")
        deadline = time.monotonic() + 60
        while queue.get(job.id).status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.1)
        done = queue.get(job.id)
        assert done.status == "succeeded" and done.result == {**done.result, "prompts": []}
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
        queue.close()
        store.dispose()
    assert worker.returncode == 0, output
    assert "worker: jobs from postgresql+psycopg://" in output
