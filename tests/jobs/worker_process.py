"""A procrastinate worker process for the tests: the real engine and the real PostgreSQL, with the
scripted colour model taking ``latency`` seconds per call (a library test double, as the API tests
pass one), so that a test can kill it mid-run.

    python -m tests.jobs.worker_process DATABASE_URL LATENCY_S [defaults]

With ``defaults`` it runs with the production settings (``JobSettings()``: stall after 30 s), as
``bench/jobs_engines.py --kill`` measures them.
"""

from __future__ import annotations

import logging
import sys

from tests.api.support import colour_model
from tests.jobs.support import SECRET

from promptevolve.autopilot import AutopilotSettings
from promptevolve.jobs import JobDeps, JobSettings
from promptevolve.jobs.procrastinate_engine import run_worker
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.store.engine import Store

#: A dead worker is seen within seconds; a live one on a loaded machine (2 cores, load 8) is not
#: mistaken for dead.
SETTINGS = JobSettings(engine="procrastinate", stalled_s=6.0, heartbeat_s=0.5, poll_s=0.2)


def main(url: str, latency_s: float, settings: JobSettings = SETTINGS) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    store = Store.from_url(url)
    provider = ScriptedProvider(colour_model, latency_s=latency_s, sleep=latency_s > 0)
    deps = JobDeps(
        store=store,
        providers={"colour": provider},
        autopilot=AutopilotSettings(webhook_secret=SECRET, notify_attempts=4, notify_timeout_s=30),
    )
    run_worker(deps, settings)


if __name__ == "__main__":
    production = sys.argv[3:] == ["defaults"]
    main(sys.argv[1], float(sys.argv[2]), JobSettings(engine="procrastinate") if production else SETTINGS)
