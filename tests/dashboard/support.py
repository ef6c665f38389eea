"""Real data for the dashboard: prompts with a lineage, executions with feedback through the SDK, an
experiment with decisions, an evolution run and an autopilot policy with a candidate awaiting approval,
all made through the API (or the SDK for bulk traffic)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
from tests.api.support import COLOUR_TEMPLATE, colour_dataset, drive, gated_candidate

from promptevolve.core.settings import Settings
from promptevolve.store.engine import Store

THUMBS = {"1.0.0": 0.45, "1.1.0": 0.7}


def _ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200,)), response.text
    return response.json() if response.content else None


def seed_prompts(api: httpx.Client) -> None:
    """``lead_summary``: baseline 1.0.0 (serving), 1.1.0 (optimized), 2.0.0 (evolved from 1.1.0)."""
    scripted = {"provider": "scripted"}
    base = {"prompt": "lead_summary", "settings": scripted}
    _ok(
        api.post(
            "/variants",
            json={
                **base,
                "template": "Summarise {{ company }} for sales.",
                "description": "One-line lead summary",
                "locale": "en",
            },
        ),
        201,
    )
    _ok(
        api.post(
            "/variants",
            json={
                **base,
                "template": "Summarise {{ company }} in one line for sales.",
                "rationale": "shorter, one line",
            },
        ),
        201,
    )
    _ok(
        api.post(
            "/variants",
            json={
                **base,
                "template": "Example: Acme → robots.\nSummarise {{ company }}.",
                "parent": "1.1.0",
                "version": "2.0.0",
                "kind": "evolved",
                "strategy": "few_shot",
                "rationale": "two worked examples",
                "meta": {"test_score": 0.82},
            },
        ),
        201,
    )
    _ok(api.post("/prompts/lead_summary/variants/1.0.0/activate", json={}))
    _ok(api.put("/prompts/lead_summary/labels/production", json={"version": "1.0.0"}))


def seed_experiment(
    api: httpx.Client,
    store: Store,
    settings: Settings,
    *,
    rounds: int = 3,
    pause_s: float = 0.0,
    ramp: tuple[float, ...] = (),
) -> int:
    """An A/B test of 1.0.0 against 1.1.0 on thumbs, traffic in ``rounds`` (``pause_s`` apart, so the
    lift chart has points over time) and an analysis after each, which writes decisions. Without a
    ``ramp`` the measurement starts with the test, so every round adds to the lift chart."""
    body = {
        "prompt": "lead_summary",
        "control": "1.0.0",
        "treatments": ["1.1.0"],
        "metric": "thumbs",
        "mde": 0.1,
        "min_sample": 400,
        "ramp": list(ramp),
        "min_units_per_step": 10,
        "guardrail_min_units": 20,
        "srm_grace_s": 0,
        "name": "lead_summary: shorter summary",
    }
    exp = _ok(api.post("/experiments", json=body), 201)["id"]
    _ok(api.post(f"/experiments/{exp}/start"))
    for r in range(rounds):
        if r and pause_s:
            time.sleep(pause_s)
        drive(
            store,
            settings,
            prompt="lead_summary",
            units=60,
            thumbs=THUMBS,
            seed=r,
            start=60 * r,
            variable="company",
        )
        _ok(api.post(f"/experiments/{exp}/analyze"))
    return exp


def seed_evolution(api: httpx.Client, store: Store, tmp: Path) -> str:
    """A recorded evolution run of the ``colours`` prompt (a scripted model named ``colour``)."""
    _ok(
        api.post(
            "/variants",
            json={"prompt": "colours", "template": COLOUR_TEMPLATE, "settings": {"provider": "colour"}},
        ),
        201,
    )
    _ok(api.post("/prompts/colours/variants/1.0.0/activate", json={}))
    colour_dataset(store, tmp / "colours.jsonl")
    job = _ok(
        api.post(
            "/evolution/jobs",
            json={
                "prompt": "colours",
                "dataset": "colours",
                "budget": 80,
                "seed": 1,
                "minibatch": 4,
                "max_generations": 4,
            },
        ),
        202,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = _ok(api.get(f"/evolution/jobs/{job['id']}"))
        if state["status"] in ("succeeded", "failed"):
            assert state["status"] == "succeeded", state["error"]
            return str(state["run_id"])
        time.sleep(0.05)
    raise AssertionError("the evolution job did not finish")


def seed_autopilot(
    api: httpx.Client, store: Store, prompt: str, candidate: str, parent: str = "1.0.0"
) -> None:
    """A ``propose`` policy on ``prompt`` (through the API) and ``candidate`` awaiting approval (the
    decision-log entry an evolution round writes when its candidate passes the gate)."""
    _ok(api.patch(f"/prompts/{prompt}/autopilot", json={"autonomy": "propose", "daily_calls": 300}))
    gated_candidate(store, prompt, candidate, parent)


# --- signing in -------------------------------------------------------------------------------------

CSRF_INPUT = re.compile(r'name="csrf" value="([\w\-]+)"')


def sign_in(client: Any, key: str, next: str = "") -> httpx.Response:
    """Sign in as a browser does: load the form (its CSRF cookie and token), then post it with the key."""
    form = client.get("/dashboard/login")
    assert form.status_code == 200, form.text
    token = CSRF_INPUT.search(form.text)
    assert token is not None, "the sign-in form carries a CSRF token"
    data = {"key": key, "csrf": token.group(1), "next": next}
    return client.post("/dashboard/login", data=data, follow_redirects=False)  # type: ignore[no-any-return]
