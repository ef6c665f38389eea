"""The autopilot over HTTP: status (step, budget left, last decisions), a policy read, changed by
partial merges (audited) and removed, and a person's approval or rejection of a gated candidate; every
refusal (401, 403, 404, 409, 422) writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.api.support import PROBLEM, Api, gated_candidate, register, two_variants

from promptevolve.registry import Registry

POLICY = "/prompts/p/autopilot"


@pytest.fixture
def rows(db_snapshot: Callable[[], Any]) -> Callable[[], Any]:
    """Every row but the keys' (whose ``last_used_at`` moves when a refused key is first used)."""
    return lambda: {table: found for table, found in db_snapshot().items() if table != "api_keys"}


def test_a_policy_is_created_merged_field_by_field_read_and_removed_audited(api: Api) -> None:
    two_variants(api)
    missing = api.get(POLICY, "read")
    assert missing.status_code == 404 and "has no autopilot policy" in missing.json()["detail"]
    created = api.ok(api.client.patch(POLICY, json={"autonomy": "propose"}, headers=api.headers()))
    assert created["autonomy"] == "propose" and created["daily_calls"] == 500, "the rest are defaults"
    changes = {
        "daily_tokens": 20_000,
        "quiet_hours": "22-06",
        "timezone": "Europe/Paris",
        "experiment": {"alpha": 0.01, "ramp": [10, 100]},
        "evolution": {"strategies": ["few_shot"]},
    }
    merged = api.ok(api.client.patch(POLICY, json=changes, headers=api.headers()))
    assert merged["autonomy"] == "propose", "fields not given keep their value"
    assert merged["experiment"]["alpha"] == 0.01 and merged["experiment"]["ramp"] == [10.0, 100.0]
    assert merged["experiment"]["mde"] == 0.05, "nested objects merge"
    assert merged["quiet_hours"] == {"start_minute": 22 * 60, "end_minute": 6 * 60}
    again = api.ok(
        api.client.patch(POLICY, json={"quiet_hours": merged["quiet_hours"]}, headers=api.headers())
    )
    assert again == merged, "what GET shows can be sent back"
    unlimited = api.ok(api.client.patch(POLICY, json={"daily_tokens": None}, headers=api.headers()))
    assert unlimited["daily_tokens"] is None, "null clears a field that may be null"
    assert api.ok(api.get(POLICY, "read")) == unlimited
    history = api.ok(api.get("/prompts/p/history", "read"))["items"]
    config = [h for h in history if h["action"] == "config"]
    assert len(config) == 4 and {h["actor"] for h in config} == {"key:admin"}
    assert config[0]["before"]["autopilot"]["daily_tokens"] == 20_000
    assert api.delete(POLICY).status_code == 204
    assert api.get(POLICY, "read").status_code == 404 and api.delete(POLICY).status_code == 404
    assert api.ok(api.get("/autopilot/status", "read"))["prompts"] == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"autonomy": "reckless"}, ["body", "autonomy"]),
        ({"autonomy": None}, ["body", "autonomy"]),
        ({"daily_calls": -1}, ["body", "daily_calls"]),
        ({"webhook_secret": "s3cret"}, ["body", "webhook_secret"]),
        ({"experiment": {"alpha": 0.7}}, ["body", "experiment", "alpha"]),
        ({"experiment": {"ramp": [50, 10]}}, ["body", "experiment"]),
        ({"evolution": None}, ["body", "evolution"]),
        ({"timezone": "Mars/Olympus"}, ["body", "timezone"]),
        ({"quiet_hours": "25-06"}, ["body", "quiet_hours"]),
        ({"webhook_url": "ftp://hooks"}, ["body", "webhook_url"]),
    ],
)
def test_an_invalid_change_is_422_naming_the_field_and_writes_nothing(
    api: Api, rows: Callable[[], Any], body: dict[str, Any], where: list[str]
) -> None:
    two_variants(api)
    api.ok(api.client.patch(POLICY, json={"autonomy": "observe"}, headers=api.headers()))
    before = rows()
    response = api.client.patch(POLICY, json=body, headers=api.headers())
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM, response.text
    problem = response.json()
    assert problem["code"] == "validation" and problem["errors"][0]["loc"] == where, problem
    assert rows() == before


def test_keys_scopes_and_unknown_prompts_are_refused_before_anything_is_written(
    api: Api, rows: Callable[[], Any]
) -> None:
    two_variants(api)
    api.ok(api.client.patch(POLICY, json={"autonomy": "propose"}, headers=api.headers()))
    gated_candidate(api.store, "p", "1.1.0")
    before = rows()
    writes = [
        ("patch", POLICY, {"autonomy": "autonomous"}),
        ("delete", POLICY, None),
        ("post", f"{POLICY}/approve", {"version": "1.1.0"}),
        ("post", f"{POLICY}/reject", {"version": "1.1.0"}),
    ]
    reads = [("get", POLICY, None), ("get", "/autopilot/status", None)]
    for method, path, body in writes + reads:
        anonymous = api.client.request(method, path, json=body)
        assert anonymous.status_code == 401 and "www-authenticate" in anonymous.headers, path
    for who, calls in (("read", writes), ("execute", writes + reads)):
        for method, path, body in calls:
            refused = api.client.request(method, path, json=body, headers=api.headers(who))
            assert refused.status_code == 403, (who, method, path, refused.text)
            scope = "read" if method == "get" else "admin"
            assert f"needs the {scope} scope" in refused.json()["detail"]
    for method, path, body in writes + reads:
        unknown = api.client.request(method, path.replace("/p/", "/nope/"), json=body, headers=api.headers())
        expected = 200 if path == "/autopilot/status" else 404
        assert unknown.status_code == expected, (method, path, unknown.text)
    assert api.get("/autopilot/status", "read", params={"prompt": "nope"}).status_code == 404
    assert api.get("/autopilot/status", "read", params={"prompt": "-bad"}).status_code == 422
    assert api.post(f"{POLICY}/approve", {"version": "not a version"}).status_code == 422
    assert api.post(f"{POLICY}/approve", {}).status_code == 422
    assert rows() == before


def test_status_shows_the_step_the_budget_left_and_the_last_decisions(api: Api) -> None:
    two_variants(api)
    register(api, "q", "Other {{ x }}")
    api.ok(api.client.patch(POLICY, json={"autonomy": "propose", "daily_calls": 300}, headers=api.headers()))
    gated_candidate(api.store, "p", "1.1.0")
    status = api.ok(api.get("/autopilot/status", "read"))
    [item] = status["prompts"]
    assert (item["prompt"], item["step"], item["candidate"], item["serving"]) == (
        "p",
        "awaiting_approval",
        "1.1.0",
        "1.0.0",
    )
    assert "approve or reject" in item["detail"] and item["policy"]["autonomy"] == "propose"
    budget = item["budget"]
    assert (budget["calls_used"], budget["calls_limit"], budget["calls_left"]) == (0, 300, 300)
    assert budget["tokens_left"] is None, "no token limit"
    assert [d["action"] for d in item["last_actions"]] == ["evolved"]
    assert item["drift"]["enabled"] is True and status["unreadable"] == []
    named = api.ok(api.get("/autopilot/status", "read", params={"prompt": ["q", "p"], "last": 1}))
    assert [(i["prompt"], i["step"]) for i in named["prompts"]] == [
        ("q", "no_policy"),
        ("p", "awaiting_approval"),
    ]


def test_a_person_approves_a_candidate_and_its_ab_test_starts(api: Api, rows: Callable[[], Any]) -> None:
    two_variants(api)
    api.ok(api.client.patch(POLICY, json={"autonomy": "propose"}, headers=api.headers()))
    gated_candidate(api.store, "p", "1.1.0")
    before = rows()
    wrong = api.post(f"{POLICY}/approve", {"version": "1.2.0"})
    assert wrong.status_code == 404 and "the candidate waiting is 1.1.0" in wrong.json()["detail"]
    assert rows() == before
    step = api.ok(api.post(f"{POLICY}/approve", {"version": "1.1.0"}))
    assert step["action"] == "experiment_started" and step["experiment_id"] is not None, step
    experiment = api.ok(api.get(f"/experiments/{step['experiment_id']}", "read"))
    assert experiment["status"] == "ramping" and experiment["created_by"] == "key:admin"
    assert {a["version"] for a in experiment["arms"]} == {"1.0.0", "1.1.0"}
    [item] = api.ok(api.get("/autopilot/status", "read"))["prompts"]
    assert item["step"] == "ramping" and item["experiment"]["id"] == step["experiment_id"]
    actions = [(d["action"], d["actor"]) for d in item["last_actions"]]
    assert ("approved", "key:admin") in actions and ("experiment_started", "key:admin") in actions
    again = api.post(f"{POLICY}/approve", {"version": "1.1.0"})
    assert again.status_code == 404 and "no candidate is waiting" in again.json()["detail"]


def test_a_person_rejects_a_candidate_with_a_reason(api: Api, rows: Callable[[], Any]) -> None:
    two_variants(api)
    no_policy = api.post(f"{POLICY}/reject", {"version": "1.1.0"})
    assert no_policy.status_code == 409 and "has no autopilot policy" in no_policy.json()["detail"]
    api.ok(api.client.patch(POLICY, json={"autonomy": "propose"}, headers=api.headers()))
    gated_candidate(api.store, "p", "1.1.0")
    before = rows()
    nul = api.post(f"{POLICY}/reject", {"version": "1.1.0", "reason": "a\x00b"})
    assert nul.status_code == 422 and rows() == before
    assert api.post(f"{POLICY}/reject", {"version": "1.1.0", "reason": "too chatty"}).status_code == 204
    [item] = api.ok(api.get("/autopilot/status", "read"))["prompts"]
    assert item["step"] == "idle" and item["candidate"] is None
    latest = item["last_actions"][0]
    assert latest["action"] == "candidate_rejected" and latest["actor"] == "key:admin"
    assert "too chatty" in latest["reason"]
    assert api.post(f"{POLICY}/reject", {"version": "1.1.0"}).status_code == 404
    assert api.ok(api.get("/experiments", "read"))["total"] == 0, "nothing was started"


def test_a_stored_policy_this_version_cannot_read_is_reported_not_fatal(api: Api) -> None:
    two_variants(api)
    register(api, "q", "Other {{ x }}")
    api.ok(api.client.patch("/prompts/q/autopilot", json={"autonomy": "observe"}, headers=api.headers()))
    Registry(api.store).update_config("p", {"autopilot": {"autonomy": "observe", "from_the_future": 1}})
    status = api.ok(api.get("/autopilot/status", "read"))
    assert [i["prompt"] for i in status["prompts"]] == ["q"]
    [unreadable] = status["unreadable"]
    assert unreadable["prompt"] == "p" and "from_the_future" in unreadable["error"]
    conflict = api.get(POLICY, "read")
    assert conflict.status_code == 409 and "DELETE /prompts/p/autopilot" in conflict.json()["detail"]
    assert api.client.patch(POLICY, json={"autonomy": "propose"}, headers=api.headers()).status_code == 409
    assert api.delete(POLICY).status_code == 204 and api.get(POLICY, "read").status_code == 404
