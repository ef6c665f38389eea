"""Jobs over HTTP: an evaluation and an autopilot pass start as jobs (202), report progress and results at
/jobs/{id} from the database; cancelling and retrying answer 409 when the job's state does not allow it;
kinds and statuses filter the list; bad requests are refused before anything is queued."""

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


def follow(api: Api, job_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        job = api.ok(api.get(f"/jobs/{job_id}", "read"))
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']}")


def test_an_evaluation_runs_as_a_job_with_progress_and_result(lab: Api) -> None:
    started = lab.ok(
        lab.post("/evaluations", {"prompt": "colours", "dataset": "colours", "max_items": 5}), 202
    )
    assert started["kind"] == "evaluate" and started["status"] in ("queued", "running")
    assert started["request"]["dataset"] == "colours" and started["max_attempts"] == 3
    done = follow(lab, started["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1 and done["error"] is None
    assert done["result"]["items"] == 5 and done["result"]["variant"] == "colours@1.0.0"
    assert done["progress"]["calls"] >= 5 and done["worker"]
    listed = lab.ok(lab.get("/jobs", "read", params={"kind": "evaluate", "status": "succeeded"}))
    assert listed["total"] == 1 and listed["items"][0]["id"] == done["id"]
    assert lab.ok(lab.get("/jobs", "read", params={"kind": "evolve"}))["total"] == 0
    assert lab.get(f"/evolution/jobs/{done['id']}", "read").status_code == 404  # not an evolution
    assert lab.post(f"/jobs/{done['id']}/cancel", {}).status_code == 409
    assert lab.post(f"/jobs/{done['id']}/retry", {}).status_code == 409


def test_an_autopilot_pass_runs_as_a_job(lab: Api) -> None:
    lab.ok(
        lab.client.patch("/prompts/colours/autopilot", json={"autonomy": "observe"}, headers=lab.headers())
    )
    started = lab.ok(lab.post("/autopilot/passes", {"prompts": ["colours"]}), 202)
    done = follow(lab, started["id"])
    assert done["status"] == "succeeded" and done["kind"] == "autopilot_pass"
    assert [p["prompt"] for p in done["result"]["prompts"]] == ["colours"]


def test_bad_job_requests_are_refused_before_queueing(lab: Api) -> None:
    assert lab.post("/evaluations", {"prompt": "nope", "dataset": "colours"}).status_code == 404
    assert lab.post("/evaluations", {"prompt": "colours", "dataset": "nope"}).status_code == 404
    assert (
        lab.post("/evaluations", {"prompt": "colours", "dataset": "colours", "split": "x"}).status_code == 422
    )
    assert lab.post("/autopilot/passes", {"prompts": ["bad name!"]}).status_code == 422
    assert lab.get("/jobs", "read", params={"kind": "nope"}).status_code == 422
    assert lab.get("/jobs/ffff", "read").status_code == 404
    assert lab.post("/jobs/ffff/cancel", {}).status_code == 404
    assert (
        lab.post("/evaluations", {"prompt": "colours", "dataset": "colours"}, who="read").status_code == 403
    )
    assert lab.ok(lab.get("/jobs", "read"))["total"] == 0
