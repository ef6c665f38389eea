"""Two `promptevolve serve` replicas and an SDK process on one PostgreSQL (docs/deploy.md): every unit is
routed to the same arm by each; an activation made through one replica is served by the other and by
the SDK at once (LISTEN/NOTIFY, with caches whose TTL would otherwise hide it for an hour); a job
started on one replica is seen on the other and runs once, though both run jobs; both replicas analysing
one experiment at the same moment apply each ramp step once. (Two autopilot passes and promotion races
in several processes: tests/autopilot/test_concurrency.py, tests/experiments/test_state_races.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.support import make_keys

from promptevolve.client import PromptOptimizer
from promptevolve.core.settings import Settings
from promptevolve.store.engine import Store

ROOT = Path(__file__).resolve().parents[2]
SCRIPTED = {"provider": "scripted"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    def __init__(self, url: str, key: str, log: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            "PROMPTEVOLVE_DATABASE_URL": url,
            "PROMPTEVOLVE_DEFAULT_PROVIDER": "scripted",
            "PROMPTEVOLVE_JOBS_POLL_S": "0.2",
            # Two replicas analysing at once: the one waiting for the other's transaction may wait as long
            # as it takes (2.7 s per analysis of this lab under a load of 6 on one core, against the
            # default 3 s); a lock timeout is not what these tests are about (test_timeouts.py is).
            "PROMPTEVOLVE_DB_LOCK_TIMEOUT_S": "60",
        }
        command = [sys.executable, "-m", "promptevolve.cli.app", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}/api/v1", headers={"Authorization": f"Bearer {key}"}
        )

    def wait_ready(self, timeout_s: float = 120) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                if self.client.get("/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, "the replica exited"
            time.sleep(0.2)
        raise AssertionError(f"replica on {self.port} not ready")

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def resolve(self, prompt: str, unit: str) -> tuple[str, str | None]:
        found = self.ok(self.client.post(f"/prompts/{prompt}/resolve", json={"unit_id": unit}))
        return found["version"], found["arm"]

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def replicas(postgres_database_url: str, tmp_path: Path) -> Iterator[tuple[Replica, Replica, Store]]:
    store = Store.from_url(postgres_database_url)
    key = make_keys(store)["admin"]
    pair = [Replica(postgres_database_url, key, tmp_path / f"replica{i}.log") for i in (1, 2)]
    try:
        for replica in pair:
            replica.wait_ready()
        yield pair[0], pair[1], store
    finally:
        for replica in pair:
            replica.stop()
        store.dispose()


def register(replica: Replica, prompt: str, *versions: str) -> None:
    for n, _ in enumerate(versions):
        body = {"prompt": prompt, "template": f"Variant {n} for {{{{ x }}}}", "settings": SCRIPTED}
        assert replica.client.post("/variants", json=body).status_code == 201
    replica.ok(replica.client.post(f"/prompts/{prompt}/variants/1.0.0/activate", json={}))


def until(check: Any, what: str, timeout_s: float = 10.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def test_replicas_and_an_sdk_route_alike_and_see_each_others_changes_at_once(replicas) -> None:
    one, two, store = replicas
    sdk = PromptOptimizer(store, settings=Settings(database_url=store.url), cache_ttl_s=3600.0)
    try:
        register(one, "p", "1.0.0", "1.1.0")
        plan = {
            "prompt": "p",
            "control": "1.0.0",
            "treatments": ["1.1.0"],
            "metric": "thumbs",
            "seed": "replicas",
            "ramp": [],
        }
        experiment = two.ok(two.client.post("/experiments", json=plan), 201)["id"]
        two.ok(two.client.post(f"/experiments/{experiment}/start", json={}))
        units = [f"user-{i}" for i in range(40)]
        seen = {u: one.resolve("p", u) for u in units}
        assert seen == {u: two.resolve("p", u) for u in units}
        handles = {u: sdk.get_prompt("p", unit_id=u) for u in units}
        assert seen == {u: (h.version, h.arm) for u, h in handles.items()}
        assert {arm for _, arm in seen.values()} == {"control", "treatment"}

        register(two, "q", "1.0.0", "1.1.0")
        assert one.resolve("q", "u")[0] == "1.0.0" and sdk.get_prompt("q", unit_id="u").version == "1.0.0"
        one.ok(one.client.post("/prompts/q/variants/1.1.0/activate", json={"exclusive": True}))
        waited = until(lambda: two.resolve("q", "u")[0] == "1.1.0", "replica two serves 1.1.0")
        until(lambda: sdk.get_prompt("q", unit_id="u").version == "1.1.0", "the SDK serves 1.1.0")
        assert waited < 10.0  # far below the 30 s TTL of the replicas' caches
    finally:
        sdk.close()


def test_a_job_started_on_one_replica_is_seen_on_the_other_and_runs_once(replicas) -> None:
    one, two, _ = replicas
    started = [
        (one if n % 2 else two).ok((one if n % 2 else two).client.post("/autopilot/passes", json={}), 202)
        for n in range(6)
    ]
    for job in started:
        until(
            lambda job=job: one.ok(one.client.get(f"/jobs/{job['id']}"))["status"] == "succeeded", "done", 60
        )
    done = [two.ok(two.client.get(f"/jobs/{job['id']}")) for job in started]
    assert all(j["status"] == "succeeded" and j["attempts"] == 1 for j in done)
    assert one.ok(one.client.get("/jobs", params={"kind": "autopilot_pass"}))["total"] == 6


def test_two_replicas_analysing_at_once_apply_each_ramp_step_once(replicas) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.experiments.support import make_lab

    from promptevolve.experiments import ExperimentCreate

    one, two, store = replicas
    lab = make_lab(store)
    plan = ExperimentCreate(
        prompt="p",
        control="1.0.0",
        treatments=["1.1.0"],
        metric="thumbs",
        min_sample=10**6,
        ramp=[2, 5, 10, 25],
        min_units_per_step=10,
        guardrails=[],
        srm_grace_s=0,
    )
    info = lab.service.create(plan)
    lab.service.start(info.id)
    try:
        with ThreadPoolExecutor(2) as pool:
            for round_ in range(3):
                lab.optimizer.cache.invalidate("p")
                lab.drive(1500)  # the treatment passes its step (>= 10 units at 2 %)
                answers = pool.map(
                    lambda r: r.ok(r.client.post(f"/experiments/{info.id}/analyze")), (one, two)
                )
                actions = sorted(tuple(a["actions"]) for a in answers)
                assert actions == [(), ("ramp_step",)], f"round {round_}: {actions}"
    finally:
        lab.close()
    decisions = one.ok(one.client.get(f"/experiments/{info.id}/decisions"))
    steps = [d for d in decisions["items"] if d["action"] == "ramp_step"]
    assert len(steps) == 3 and one.ok(one.client.get(f"/experiments/{info.id}"))["ramp_step"] == 3
