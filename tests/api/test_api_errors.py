"""Errors are problem+json from one mapping: 404/405 for unknown routes, 413 for large bodies, 422 for
malformed input (with per-field errors) and for values the database refuses, 503 while the store is
down or its schema is behind; metrics buckets are summed in SQL."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import text
from tests.api.support import PROBLEM, Api, running_api, two_variants

from promptevolve.api import ApiSettings, create_api
from promptevolve.api.errors import status_for
from promptevolve.core.errors import StoreError, StoreValueError
from promptevolve.core.settings import Settings


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    missing = api.get("/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert "no such endpoint" in missing.json()["detail"]
    wrong = api.client.delete("/health")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


def test_malformed_bodies_name_each_field(api: Api) -> None:
    broken = api.client.post(
        "/variants", content=b"{not json", headers={**api.headers(), "content-type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["errors"][0]["type"] == "json_invalid"
    wrong = api.post("/experiments", {"prompt": "p", "control": 1, "treatments": [], "extra": True})
    problem = wrong.json()
    assert wrong.status_code == 422 and problem["code"] == "validation"
    fields = {tuple(e["loc"]) for e in problem["errors"]}
    assert {("body", "control"), ("body", "treatments"), ("body", "extra")} <= fields
    assert problem["detail"].startswith("invalid input: body.control")


def test_bodies_over_the_limit_are_413_declared_or_streamed(database_url: str) -> None:
    with running_api(database_url, api_settings=ApiSettings(max_body_bytes=2048)) as api:
        big = {"prompt": "p", "template": "x" * 5000}
        declared = api.post("/variants", big)
        assert declared.status_code == 413 and declared.headers["content-type"] == PROBLEM
        assert "limit of 2048 bytes" in declared.json()["detail"]

        def chunks():
            yield b'{"prompt": "p", "template": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = api.client.post(
            "/variants", content=chunks(), headers={**api.headers(), "content-type": "application/json"}
        )
        assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"
        assert api.post("/variants", {"prompt": "p", "template": "small"}).status_code == 201


def test_values_the_database_refuses_are_422_never_500(api: Api, backend: str) -> None:
    two_variants(api)
    nul = api.put("/prompts/p/shares", {"shares": {"1.0.0": 90}, "reason": "a\x00b"})
    # Refused alike on both databases (SQLite would hold it; PostgreSQL cannot): store.guard.
    assert nul.status_code == 422 and nul.json()["code"] == "unstorable_value", nul.text
    assert api.post("/executions", {"prompt": "p", "output": "a\x00b"}).status_code == 422
    assert api.get("/executions", params={"experiment_id": 2**40}).status_code == 422
    assert api.get("/experiments/99999999999", "read").status_code == 422


def test_a_refused_value_is_mapped_by_its_type() -> None:
    # The store raises StoreValueError for a value the database refuses (tests/store/test_store_errors.py);
    # the API maps that type, never the driver's error behind it.
    assert status_for(StoreValueError("out of range")) == (422, "invalid_value")
    assert status_for(StoreError("broken")) == (500, "store")


def test_readiness_says_when_the_schema_is_behind(api: Api) -> None:
    with api.store.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    response = api.client.get("/ready")
    assert response.status_code == 503 and "promptevolve db upgrade" in response.json()["detail"]
    assert response.headers["retry-after"] == "5"


def test_a_store_that_is_down_gives_503_and_health_still_answers() -> None:
    down = Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")
    with TestClient(create_api(down)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["code"] == "store_unavailable"
        key = "pe_00000000_" + "A" * 43
        call = client.get("/prompts", headers={"Authorization": f"Bearer {key}"})
        assert call.status_code == 503 and call.headers["retry-after"] == "5"


def test_variant_trend_is_bucketed_in_sql(api: Api) -> None:
    two_variants(api)
    t0 = time.time()
    ids = [api.ok(api.post("/prompts/p/run", {"variables": {"x": i}}))["execution_id"] for i in range(4)]
    for execution_id, up in zip(ids, (True, True, False), strict=False):
        api.ok(api.post(f"/executions/{execution_id}/feedback", {"thumbs": up}), 201)
    window = {"since": _iso(t0 - 100), "until": _iso(t0 + 100), "buckets": 4}
    thumbs = api.ok(
        api.get("/metrics/prompts/p/variants/1.0.0", "read", params={**window, "metric": "thumbs"})
    )
    assert [p["executions"] for p in thumbs["points"]] == [0, 0, 3, 0] and thumbs["bucket_seconds"] == 50
    point = thumbs["points"][2]
    assert abs(point["mean"] - 2 / 3) < 1e-9 and 0.0 <= point["ci_low"] <= point["ci_high"] <= 1.0
    latency = api.ok(
        api.get("/metrics/prompts/p/variants/1.0.0", "read", params={**window, "metric": "latency_ms"})
    )
    assert latency["points"][2]["executions"] == 4
    assert api.ok(api.get("/metrics/prompts/p/variants/1.1.0", "read"))["points"][-1]["executions"] == 0
    assert api.get("/metrics/prompts/p/variants/1.0.0", "read", params={"metric": "bogus"}).status_code == 422
    assert api.get("/metrics/prompts/p/variants/9.0.0", "read").status_code == 404
    naive = api.get("/metrics/prompts/p/variants/1.0.0", "read", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


def _iso(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat()
