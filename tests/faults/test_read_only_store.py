"""A store that refuses every write (issue 14's fault suite): calls keep answering, what they would
record is kept queued and, past the queue's capacity, dropped and counted, and a write the caller asks
for explicitly (feedback, registration) fails at once with an error that says the store is read-only,
on SQLite (a read-only file) and PostgreSQL (``default_transaction_read_only``); through the SDK and
through the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.faults.support import read_only_database

from promptevolve.access import KeyService
from promptevolve.api import create_api
from promptevolve.client import PromptOptimizer
from promptevolve.core.errors import StoreUnavailableError
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.tracking.recorder import Recorder

pytestmark = pytest.mark.slow  # about 20 s a database: the API drains its recorder on shutdown

CALLS = 40
CAPACITY = 25
READ_ONLY = "read-only"


KEYS: dict[str, str] = {}


def _prepare(store: Store) -> None:
    registry = Registry(store, actor="setup")
    registry.register(
        VariantCreate(prompt="p", template="Say {{ x }}", settings=ModelSettings(provider="scripted"))
    )
    registry.activate("p", "1.0.0")
    with PromptOptimizer(
        store, settings=Settings(database_url=store.url), providers={"scripted": ScriptedProvider()}
    ) as po:
        po.run("p", {"x": "stored before"})
        assert po.flush(30)
    KEYS["admin"] = KeyService(store).create("admin", ["admin"]).key


@pytest.fixture
def read_only_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest):
    with read_only_database(backend, tmp_path, request, _prepare) as url:
        yield url


def _stored_execution(store: Store) -> str:
    from sqlalchemy import select

    from promptevolve.store.tables import Execution

    with store.read() as s:
        return s.scalars(select(Execution.id)).one()


def test_the_sdk_answers_every_call_counts_drops_and_refuses_explicit_writes_clearly(
    read_only_url: str,
) -> None:
    store = Store.from_url(read_only_url)
    recorder = Recorder(store, capacity=CAPACITY, retry_base_s=0.05, retry_s=0.2)
    po = PromptOptimizer(
        store,
        settings=Settings(database_url=read_only_url),
        providers={"scripted": ScriptedProvider()},
        recorder=recorder,
    )
    try:
        results = [po.run("p", {"x": i}) for i in range(CALLS)]
        assert [r.status for r in results] == ["ok"] * CALLS  # answered, none raised
        assert not po.flush(timeout_s=1.0)  # nothing can be written: kept queued, retried
        stats = recorder.stats
        assert stats.written == 0 and stats.rejected == 0  # not blamed on the rows
        assert stats.dropped == CALLS - CAPACITY  # the oldest beyond capacity, counted
        assert READ_ONLY in (stats.last_error or "")
        with pytest.raises(StoreUnavailableError, match=READ_ONLY):
            po.feedback(_stored_execution(store), thumbs=True)  # an execution stored before
        with pytest.raises(StoreUnavailableError, match="not yet stored .*" + READ_ONLY):
            recorder.ensure_written(results[-1].execution_id, timeout_s=0.5)
        with pytest.raises(StoreUnavailableError, match=READ_ONLY):
            po.registry.register(VariantCreate(prompt="p", template="Tell {{ x }}"))
    finally:
        recorder.close(timeout_s=0.5)
        store.dispose()


def test_the_api_answers_runs_and_says_503_read_only_for_explicit_writes(read_only_url: str) -> None:
    settings = Settings(database_url=read_only_url, actor="test", default_provider="scripted")
    app = create_api(settings, providers={"scripted": ScriptedProvider()})
    headers = {"Authorization": f"Bearer {KEYS['admin']}"}
    with TestClient(app) as client:
        assert client.get("/ready", headers=headers).status_code == 200  # reads go on
        for i in range(5):
            run = client.post("/prompts/p/run", json={"variables": {"x": i}}, headers=headers)
            assert run.status_code in (200, 202), run.text
            assert run.json()["status"] == "ok" and run.json()["recorded"] is False
        store = Store.from_url(read_only_url)
        try:
            stored = _stored_execution(store)
        finally:
            store.dispose()
        for method, path, body in [
            ("post", f"/executions/{stored}/feedback", {"thumbs": True}),
            (
                "post",
                "/variants",
                {"prompt": "p", "template": "Tell {{ x }}", "settings": {"provider": "scripted"}},
            ),
        ]:
            refused = client.request(method, path, json=body, headers=headers)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert READ_ONLY in refused.json()["detail"]
