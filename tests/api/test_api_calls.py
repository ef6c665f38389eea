"""Calls over HTTP: run (routing, stickiness, fallbacks, errors mapped), resolve + record an external
call, feedback, and the executions they leave, committed before the response."""

from __future__ import annotations

from tests.api.support import PROBLEM, SCRIPTED, Api, register, running_api, two_variants

from promptevolve.core.errors import ProviderError
from promptevolve.providers.scripted import ScriptedProvider


def test_run_answers_with_the_routed_variant_and_is_readable_at_once(api: Api) -> None:
    two_variants(api)
    result = api.ok(api.post("/prompts/p/run", {"variables": {"x": 7}, "unit_id": "lead-1"}, "execute"))
    assert result["status"] == "ok" and result["version"] == "1.0.0" and result["text"] == "ok"
    assert result["recorded"] is True
    stored = api.ok(api.get(f"/executions/{result['execution_id']}", "read"))
    assert stored["variables"] == {"x": 7} and stored["status"] == "ok" and stored["version"] == "1.0.0"


def test_run_is_sticky_per_unit_under_shares(api: Api) -> None:
    two_variants(api)
    api.ok(api.put("/prompts/p/shares", {"shares": {"1.0.0": 50, "1.1.0": 50}}))
    first = {
        u: api.ok(api.post("/prompts/p/run", {"variables": {"x": 1}, "unit_id": u}))["version"]
        for u in "abcdefgh"
    }
    again = {
        u: api.ok(api.post("/prompts/p/run", {"variables": {"x": 2}, "unit_id": u}))["version"]
        for u in "abcdefgh"
    }
    assert first == again and set(first.values()) == {"1.0.0", "1.1.0"}


def test_run_falls_back_and_maps_what_cannot_answer(api: Api) -> None:
    two_variants(api)
    body = {"variables": {"x": 1}, "fallback": "Say {{ x }}", "fallback_settings": SCRIPTED}
    fallback = api.ok(api.post("/prompts/unknown/run", body))
    assert fallback["status"] == "fallback" and fallback["fallback_reason"] == "unknown_prompt"
    missing = api.post("/prompts/unknown/run", {"variables": {}})
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert "unknown prompt 'unknown'" in missing.json()["detail"]
    unfilled = api.post("/prompts/p/run", {"variables": {}})
    assert unfilled.status_code == 422 and unfilled.json()["code"] == "missing_variable"


def test_a_failing_variant_falls_back_to_the_baseline_and_total_failure_is_502(database_url: str) -> None:
    flaky = ScriptedProvider(fail_with=ProviderError("model down"), name="flaky")
    with running_api(database_url, providers={"flaky": flaky}) as api:
        register(api, "p", "A {{ x }}")
        register(api, "p", "B {{ x }}", settings={"provider": "flaky"})
        api.ok(api.post("/prompts/p/variants/1.1.0/activate", {"exclusive": True}))
        saved = api.ok(api.post("/prompts/p/run", {"variables": {"x": 1}}))
        assert (saved["status"], saved["version"], saved["fallback_reason"]) == (
            "fallback",
            "1.0.0",
            "variant_failed",
        )
        register(api, "q", "C {{ x }}", settings={"provider": "flaky"})
        failed = api.post("/prompts/q/run", {"variables": {"x": 1}})
        assert failed.status_code == 502 and "model down" in failed.json()["detail"]
        errors = api.ok(api.get("/executions", params={"status": "error", "prompt": "p"}))["items"]
        assert {e["version"] for e in errors} == {"1.1.0"}, "failed attempts are recorded on their variant"


def test_resolve_then_record_an_external_call(api: Api) -> None:
    two_variants(api)
    resolved = api.ok(api.post("/prompts/p/resolve", {"unit_id": "u1", "variables": {"x": 3}}, "execute"))
    assert resolved["version"] == "1.0.0" and resolved["messages"] == [
        {"role": "user", "content": "Variant A for 3"}
    ]
    body = {
        "prompt": "p",
        "version": resolved["version"],
        "unit_id": "u1",
        "variables": {"x": 3},
        "output": "external answer",
        "latency_ms": 250.0,
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "model": "gpt-x",
    }
    recorded = api.ok(api.post("/executions", body, "execute"), 201)
    assert recorded["recorded"] is True
    stored = api.ok(api.get(f"/executions/{recorded['execution_id']}", "read"))
    assert (stored["source"], stored["output"], stored["model"], stored["prompt"]) == (
        "track",
        "external answer",
        "gpt-x",
        "p",
    )
    own = api.ok(api.post("/executions", {"prompt": "p", "output": "mine"}, "execute"), 201)
    assert api.ok(api.get(f"/executions/{own['execution_id']}"))["status"] == "fallback"


def test_recording_refuses_unknown_prompts_versions_and_arms(api: Api) -> None:
    two_variants(api)
    assert api.post("/executions", {"prompt": "nope"}).status_code == 404
    assert api.post("/executions", {"prompt": "p", "version": "9.9.9"}).status_code == 404
    assert api.post("/executions", {"prompt": "p", "arm": "treatment"}).status_code == 422
    assert api.post("/executions", {"prompt": "p", "experiment_id": 99}).status_code == 404
    assert api.post("/executions", {"prompt": "p", "prompt_tokens": -1}).status_code == 422


def test_feedback_lands_on_the_execution_and_is_validated(api: Api) -> None:
    two_variants(api)
    execution_id = api.ok(api.post("/prompts/p/run", {"variables": {"x": 1}}))["execution_id"]
    body = {"thumbs": True, "rating": 4, "correction": "better answer", "comment": "close"}
    created = api.ok(api.post(f"/executions/{execution_id}/feedback", body, "execute"), 201)
    assert len(created["feedback_ids"]) == 3
    kinds = {f["kind"] for f in api.ok(api.get(f"/executions/{execution_id}"))["feedback"]}
    assert kinds == {"thumbs", "rating", "correction"}
    unknown = api.post("/executions/ffff/feedback", {"thumbs": True})
    assert unknown.status_code == 404 and "unknown execution id" in unknown.json()["detail"]
    empty = api.post(f"/executions/{execution_id}/feedback", {})
    assert empty.status_code == 422 and "at least one" in empty.json()["detail"]
    assert api.post(f"/executions/{execution_id}/feedback", {"rating": 6}).status_code == 422


def test_executions_are_paged_newest_first_with_next_links(api: Api) -> None:
    two_variants(api)
    ids = [api.ok(api.post("/prompts/p/run", {"variables": {"x": i}}))["execution_id"] for i in range(5)]
    first = api.ok(api.get("/executions", params={"prompt": "p", "limit": 2}))
    assert [e["id"] for e in first["items"]] == ids[::-1][:2] and first["total"] is None
    assert first["next"].endswith("/executions?prompt=p&limit=2&offset=2")
    third = api.ok(api.get("/executions", params={"prompt": "p", "limit": 2, "offset": 4}))
    assert [e["id"] for e in third["items"]] == [ids[0]] and third["next"] is None
    assert api.ok(api.get("/executions", params={"version": "1.1.0"}))["items"] == []
