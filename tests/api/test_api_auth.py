"""Every endpoint needs a key with the right scope: 401 (with WWW-Authenticate) for no key or a bad one,
403 for a key without the scope; health and readiness answer without a key."""

from __future__ import annotations

import pytest
from tests.api.support import PROBLEM, Api, two_variants
from tests.conftest import snapshot

from promptevolve.access import KeyService


def test_health_and_readiness_need_no_key(api: Api) -> None:
    assert api.client.get("/health").json()["status"] == "ok"
    ready = api.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["database"] == "reachable"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "an API key is required"),
        ("Bearer nonsense", "malformed API key"),
        ("Basic dXNlcjpwYXNz", "an API key is required"),
        ("Bearer pe_00000000_" + "A" * 43, "unknown API key"),
    ],
)
def test_a_missing_or_bad_key_is_401_with_a_bearer_challenge(
    api: Api, header: str | None, detail: str
) -> None:
    response = api.client.get("/prompts", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="promptevolve"'
    assert response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"] and response.json()["code"] == "unauthenticated"


def test_a_revoked_key_stops_working_at_once(api: Api) -> None:
    assert api.get("/prompts", "read").status_code == 200
    KeyService(api.store).revoke("reader")
    response = api.get("/prompts", "read")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_run_and_feedback_with_a_key_revoked_after_use_are_401_at_once(api: Api) -> None:
    """These calls take the key from a cache (no read per request): their commit checks it again."""
    two_variants(api)
    run = api.ok(api.post("/prompts/p/run", {"variables": {"x": "1"}}, "execute"))
    api.ok(api.post(f"/executions/{run['execution_id']}/feedback", {"thumbs": True}, "execute"), 201)
    KeyService(api.store).revoke("app")
    before = snapshot(api.store)

    again = api.post("/prompts/p/run", {"variables": {"x": "2"}}, "execute")
    feedback = api.post(f"/executions/{run['execution_id']}/feedback", {"thumbs": False}, "execute")

    for response in (again, feedback):
        assert response.status_code == 401 and "revoked" in response.json()["detail"], response.text
    assert snapshot(api.store) == before  # nothing recorded for a revoked key


def test_a_key_without_the_scope_is_403_naming_the_scope(api: Api) -> None:
    two_variants(api)
    cases = [
        ("read", "post", "/prompts/p/variants/1.1.0/activate", {"share": 10}, "admin"),
        (
            "execute",
            "post",
            "/experiments",
            {"prompt": "p", "control": "1.0.0", "treatments": ["1.1.0"]},
            "admin",
        ),
        ("read", "post", "/prompts/p/run", {"variables": {"x": 1}}, "execute"),
        ("execute", "get", "/prompts", None, "read"),
        ("execute", "get", "/executions", None, "read"),
        ("read", "post", "/evolution/jobs", {"prompt": "p", "dataset": "d", "budget": 10}, "admin"),
    ]
    for who, method, path, body, scope in cases:
        call = api.post if method == "post" else api.get
        response = call(path, body, who) if method == "post" else call(path, who)
        assert response.status_code == 403, (who, path, response.text)
        problem = response.json()
        assert problem["code"] == "forbidden" and f"needs the {scope} scope" in problem["detail"]
        assert "www-authenticate" not in response.headers


def test_admin_includes_read_and_execute_and_whoami_shows_the_effective_scopes(api: Api) -> None:
    two_variants(api)
    assert api.get("/prompts").status_code == 200
    assert api.post("/prompts/p/run", {"variables": {"x": 1}}).status_code == 200
    assert api.ok(api.get("/auth/whoami"))["scopes"] == ["read", "execute", "admin"]
    assert api.ok(api.get("/auth/whoami", "execute"))["scopes"] == ["execute"]


def test_changes_are_audited_under_the_key_name(api: Api) -> None:
    two_variants(api)
    history = api.ok(api.get("/prompts/p/history"))["items"]
    assert {h["actor"] for h in history} == {"key:admin"}
    assert KeyService(api.store).list()[0].last_used_at is not None
