"""The Evolution page lists background jobs of every kind from the database (kind, progress, attempts,
result, the error of a failed one); an admin cancels a queued job and retries a failed one from it, a
reader sees no buttons."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.api.support import COLOUR_TEMPLATE, colour_dataset, colour_model, make_keys
from tests.dashboard.support import sign_in

from promptevolve.core.settings import Settings
from promptevolve.jobs import rows
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.server.app import create_app
from promptevolve.store.engine import Store
from promptevolve.store.tables import JobRow


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, Store, dict[str, str]]]:
    settings = Settings(database_url=database_url, actor="test", default_provider="scripted")
    store = Store.from_url(database_url)
    keys = make_keys(store)
    app = create_app(settings, providers={"colour": ScriptedProvider(colour_model)})
    with TestClient(app, base_url="http://testserver") as client:
        api = TestClient(
            app, base_url="http://testserver/api/v1", headers={"Authorization": f"Bearer {keys['admin']}"}
        )
        body = {"prompt": "colours", "template": COLOUR_TEMPLATE, "settings": {"provider": "colour"}}
        assert api.post("/variants", json=body).status_code == 201
        assert api.post("/prompts/colours/variants/1.0.0/activate", json={}).status_code == 200
        colour_dataset(store, tmp_path / "colours.jsonl")
        yield client, api, store, keys
    store.dispose()


def settled(api: TestClient, job_id: str) -> dict[str, Any]:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        job = api.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(job)


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="(\w+)"', html).group(1)  # type: ignore[union-attr]


def test_the_evolution_page_shows_jobs_and_lets_an_admin_cancel_and_retry(site) -> None:
    client, api, store, keys = site
    evaluation = api.post(
        "/evaluations", json={"prompt": "colours", "dataset": "colours", "max_items": 4}
    ).json()
    tiny = api.post("/evolution/jobs", json={"prompt": "colours", "dataset": "colours", "budget": 3}).json()
    assert settled(api, evaluation["id"])["status"] == "succeeded"
    assert settled(api, tiny["id"])["status"] == "failed"
    waiting = rows.insert(store, "autopilot_pass", {}, actor="test", max_attempts=3)
    with store.write() as s:  # held back: it stays queued while the page is read
        s.execute(update(JobRow).where(JobRow.id == waiting.id).values(run_after=time.time() + 3600))

    sign_in(client, keys["read"])
    page = client.get("/dashboard/evolution").text
    assert evaluation["id"][:12] in page and "on 4 items" in page and "evaluate" in page
    assert "budget" in page and 'class="error"' in page  # the failed evolution says why
    assert 'data-action="cancel"' not in page and 'data-action="retry"' not in page

    sign_in(client, keys["admin"])
    page = client.get("/dashboard/evolution").text
    assert f'/dashboard/jobs/{waiting.id}/cancel"' in page and f'/dashboard/jobs/{tiny["id"]}/retry"' in page
    done = client.post(
        f"/dashboard/jobs/{waiting.id}/cancel", data={"csrf": csrf(page)}, follow_redirects=True
    )
    assert "Cancel asked" in done.text and rows.get(store, waiting.id).status == "cancelled"
    again = client.post(
        f"/dashboard/jobs/{tiny['id']}/retry", data={"csrf": csrf(page)}, follow_redirects=True
    )
    assert "Queued again" in again.text
    assert settled(api, tiny["id"])["attempts"] == 2
