"""The API under test: an app on a fresh database with three keys, called in process, and helpers that
build data through the API itself or, for bulk traffic, through the SDK (the same code path as /run)."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.evolution.support import LABELS, TEMPLATE, smart_reply

from promptevolve.access import KeyService
from promptevolve.api import ApiSettings, create_api
from promptevolve.client import PromptOptimizer
from promptevolve.core.ids import new_id
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.store.engine import Store
from promptevolve.store.tables import Feedback
from promptevolve.store.writes import bulk_insert

PROBLEM = "application/problem+json"
SCRIPTED = {"provider": "scripted"}


@dataclass
class Api:
    client: TestClient
    store: Store
    settings: Settings
    keys: dict[str, str]

    def headers(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, path: str, who: str = "admin", **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(who), **kwargs)

    def post(self, path: str, json: Any = None, who: str = "admin", **kwargs: Any) -> Any:
        return self.client.post(path, json=json, headers=self.headers(who), **kwargs)

    def put(self, path: str, json: Any = None, who: str = "admin") -> Any:
        return self.client.put(path, json=json, headers=self.headers(who))

    def delete(self, path: str, who: str = "admin") -> Any:
        return self.client.delete(path, headers=self.headers(who))

    def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None


def make_keys(store: Store) -> dict[str, str]:
    service = KeyService(store)
    return {
        "admin": service.create("admin", ["admin"]).key,
        "read": service.create("reader", ["read"]).key,
        "execute": service.create("app", ["execute"]).key,
    }


@contextmanager
def running_api(
    database_url: str,
    *,
    providers: Mapping[str, Provider] | None = None,
    api_settings: ApiSettings | None = None,
    raise_server_exceptions: bool = True,
) -> Iterator[Api]:
    settings = Settings(database_url=database_url, actor="test", default_provider="scripted")
    store = Store.from_url(database_url)
    keys = make_keys(store)
    app: FastAPI = create_api(settings, api_settings=api_settings, providers=providers)
    try:
        with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
            yield Api(client, store, settings, keys)
    finally:
        store.dispose()


def register(api: Api, prompt: str, template: Any, **extra: Any) -> dict[str, Any]:
    body = {"prompt": prompt, "template": template, "settings": SCRIPTED, **extra}
    response = api.post("/variants", body)
    assert response.status_code in (200, 201), response.text
    return response.json()["variant"]


def two_variants(api: Api, prompt: str = "p") -> None:
    """``prompt`` with 1.0.0 (active, production) and 1.1.0 (inactive), both answered by the scripted
    provider."""
    register(api, prompt, "Variant A for {{ x }}", description="test prompt", locale="en")
    register(api, prompt, "Variant B for {{ x }}", rationale="shorter")
    api.ok(api.post(f"/prompts/{prompt}/variants/1.0.0/activate", {}))
    api.ok(api.put(f"/prompts/{prompt}/labels/production", {"version": "1.0.0"}))


def drive(
    store: Store,
    settings: Settings,
    *,
    prompt: str = "p",
    units: int,
    thumbs: Mapping[str, float],
    seed: int = 0,
    start: int = 0,
    variable: str = "x",
) -> list[Any]:
    """``units`` calls from new units through the SDK (what /run runs), with thumbs feedback per version
    at the given rates, written in bulk."""
    rng = random.Random(seed)
    with PromptOptimizer(store, settings=settings, providers={"scripted": ScriptedProvider()}) as po:
        results = [po.run(prompt, {variable: i}, unit_id=f"u{start + i}") for i in range(units)]
        assert po.flush(30)
    rows = [
        {
            "id": new_id(),
            "execution_id": r.execution_id,
            "kind": "thumbs",
            "value": float(rng.random() < thumbs[r.version]),
            "source": "user",
            "ts": 0.0,
        }
        for r in results
        if r.status == "ok" and r.version in thumbs
    ]
    bulk_insert(store, Feedback.__table__, rows)
    return results


# --- evolution ------------------------------------------------------------------------------------

# The evolution tests' colour task: a scripted model right only when shown worked examples, and a
# proposer that answers each strategy's request in its format.
COLOURS = LABELS
COLOUR_TEMPLATE = TEMPLATE
colour_model = smart_reply


def colour_dataset(store: Store, path: Any, n: int = 40) -> None:
    import json

    from promptevolve.evolution import import_jsonl

    names = list(COLOURS)
    lines = [
        json.dumps(
            {
                "id": f"c{i:03d}",
                "inputs": {"colour": f"{names[i % 6]} #{i}"},
                "expected": COLOURS[names[i % 6]],
            }
        )
        for i in range(n)
    ]
    path.write_text("\n".join(lines))
    import_jsonl(store, "colours", path, seed=1, evaluator="exact")


# --- autopilot ------------------------------------------------------------------------------------


def gated_candidate(store: Store, prompt: str, version: str, parent: str = "1.0.0") -> None:
    """The decision-log entry an autopilot round writes when its candidate passes the held-out gate, and
    with it the candidate's row (tests/autopilot prove that rounds write them), written here without the
    round, so that the HTTP contract of approvals is tested in milliseconds."""
    from promptevolve.autopilot import journal
    from promptevolve.autopilot.facts import prompt_id

    figures = {"parent": parent, "candidate": version, "status": "passed", "improvement": 0.2}
    reason = f"{version} evolved from {parent}: passed the gate"
    journal.write(store, prompt_id(store, prompt), "evolved", reason, figures, actor="autopilot")


def wait_for_health(process: subprocess.Popen[str], base: str, timeout_s: float = 90) -> None:
    """Return once the server started as ``process`` answers ``{base}/health``; fail with its output if
    it exits, or when ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer /health within {timeout_s:.0f} s"
        time.sleep(0.2)
