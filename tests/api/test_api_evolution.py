"""Evolution over HTTP: a run starts as a background job (202, id), reports progress, and its recorded
run and candidates are readable afterwards; unknown prompts and datasets are refused before queueing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tests.api.support import COLOUR_TEMPLATE, Api, colour_dataset, colour_model, running_api

from promptevolve.providers.scripted import ScriptedProvider


@pytest.fixture
def lab(database_url: str, tmp_path: Path) -> Any:
    with running_api(database_url, providers={"colour": ScriptedProvider(colour_model)}) as api:
        body = {"prompt": "colours", "template": COLOUR_TEMPLATE, "settings": {"provider": "colour"}}
        api.ok(api.post("/variants", body), 201)
        api.ok(api.post("/prompts/colours/variants/1.0.0/activate", {}))
        colour_dataset(api.store, tmp_path / "colours.jsonl")
        yield api


def wait_for(api: Api, job_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = api.ok(api.get(f"/evolution/jobs/{job_id}", "read"))
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']}")


def test_an_evolution_job_runs_in_the_background_and_records_its_run(lab: Api) -> None:
    started = lab.post(
        "/evolution/jobs",
        {
            "prompt": "colours",
            "dataset": "colours",
            "budget": 80,
            "seed": 1,
            "minibatch": 4,
            "max_generations": 4,
        },
    )
    assert started.status_code == 202
    job = started.json()
    assert job["status"] in ("queued", "running") and job["actor"] == "key:admin"
    done = wait_for(lab, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"]["calls"] <= 80 and done["verdict"] == "passed" and done["child_version"], done
    assert [j["id"] for j in lab.ok(lab.get("/evolution/jobs", "read"))["items"]] == [job["id"]]
    runs = lab.ok(lab.get("/evolution/runs", "read", params={"prompt": "colours"}))
    assert runs["total"] == 1 and runs["items"][0]["run_id"] == done["run_id"]
    run = lab.ok(lab.get(f"/evolution/runs/{done['run_id']}", "read"))
    assert run["status"] == "passed" and run["dataset"] == "colours" and run["parent_version"] == "1.0.0"
    winner = next(c for c in run["candidates"] if c["status"] == "passed")
    assert winner["child_version"] == done["child_version"] and winner["improvement_ci_low"] > 0
    child = lab.ok(lab.get(f"/prompts/colours/variants/{done['child_version']}", "read"))
    assert child["kind"] == "evolved" and child["active"] is False
    lineage = lab.ok(lab.get("/prompts/colours/lineage", "read"))
    assert lineage["roots"][0]["children"][0]["score"] is not None


def test_refusals_before_and_during_a_job(lab: Api) -> None:
    assert (
        lab.post("/evolution/jobs", {"prompt": "nope", "dataset": "colours", "budget": 10}).status_code == 404
    )
    assert (
        lab.post("/evolution/jobs", {"prompt": "colours", "dataset": "nope", "budget": 10}).status_code == 404
    )
    assert (
        lab.post("/evolution/jobs", {"prompt": "colours", "dataset": "colours", "budget": 0}).status_code
        == 422
    )
    tiny = lab.ok(lab.post("/evolution/jobs", {"prompt": "colours", "dataset": "colours", "budget": 3}), 202)
    failed = wait_for(lab, tiny["id"])
    assert failed["status"] == "failed" and failed["error_code"] == "budget_exceeded"
    assert "raise the budget" in failed["error"]
    assert lab.get("/evolution/jobs/abc123", "read").status_code == 404
    assert lab.get("/evolution/runs/abc123", "read").status_code == 404
    datasets = lab.ok(lab.get("/datasets", "read"))["items"]
    assert datasets[0]["name"] == "colours" and sum(datasets[0]["counts"].values()) == 40


def test_an_ab_test_an_evolution_job_starts_is_served_at_once(lab: Api) -> None:
    """The server's SDK caches each prompt's plan for 30 s; the job's start must invalidate it, or the
    new test would route no call until the cache expired (SQLite has no plan-change notices)."""
    before = lab.ok(lab.post("/prompts/colours/resolve", {"unit_id": "u0"}, "execute"))
    assert before["experiment_id"] is None and before["version"] == "1.0.0"  # the plan is now cached
    body = {"prompt": "colours", "dataset": "colours", "budget": 150, "seed": 1, "minibatch": 4}
    done = wait_for(lab, lab.ok(lab.post("/evolution/jobs", {**body, "auto_ab": True}), 202)["id"])
    assert done["status"] == "succeeded" and done["experiment_id"] is not None, done
    after = lab.ok(lab.post("/prompts/colours/resolve", {"unit_id": "u0"}, "execute"))
    assert after["experiment_id"] == done["experiment_id"]
