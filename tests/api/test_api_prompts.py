"""The registry over HTTP: register, list, read, diff, lineage, activate/deactivate, shares, labels,
rollback and history, with their refusals mapped to 404/409/422 and nothing half-written."""

from __future__ import annotations

from tests.api.support import SCRIPTED, Api, register, two_variants


def test_register_creates_then_returns_the_same_content_and_refuses_bad_input(api: Api) -> None:
    first = api.post("/variants", {"prompt": "greet", "template": "Hi {{ name }}", "settings": SCRIPTED})
    assert first.status_code == 201 and first.json()["created"] is True
    variant = first.json()["variant"]
    assert (variant["version"], variant["kind"], variant["variables"]) == ("1.0.0", "baseline", ["name"])
    same = api.post("/variants", {"prompt": "greet", "template": "Hi {{ name }}", "settings": SCRIPTED})
    assert same.status_code == 200 and same.json()["created"] is False
    taken = api.post("/variants", {"prompt": "greet", "template": "Hello {{ name }}", "version": "1.0.0"})
    assert taken.status_code == 409 and taken.json()["code"] == "duplicate_version"
    broken = api.post("/variants", {"prompt": "greet", "template": "Hi {{ name"})
    assert broken.status_code == 422 and broken.json()["code"] == "template_syntax"
    bad_name = api.post("/variants", {"prompt": "-x", "template": "Hi"})
    assert bad_name.status_code == 422 and bad_name.json()["errors"][0]["loc"][:2] == ["body", "prompt"]
    chat = register(
        api,
        "greet",
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi {{ name }}"}],
    )
    assert (
        chat["version"] == "1.1.0" and chat["template_kind"] == "chat" and chat["parent_version"] == "1.0.0"
    )


def test_prompts_and_variants_are_listed_in_pages_and_read_one_by_one(api: Api) -> None:
    for name in ("a", "b", "c"):
        register(api, name, f"{name} {{{{ x }}}}")
    page = api.ok(api.get("/prompts", "read", params={"limit": 2}))
    assert [p["name"] for p in page["items"]] == ["a", "b"] and page["total"] == 3
    assert page["next"].endswith("/prompts?limit=2&offset=2")
    last = api.ok(api.get("/prompts", "read", params={"limit": 2, "offset": 2}))
    assert [p["name"] for p in last["items"]] == ["c"] and last["next"] is None
    assert api.ok(api.get("/prompts/a", "read"))["variants"] == 1
    assert api.ok(api.get("/prompts/a/variants", "read"))["items"][0]["version"] == "1.0.0"
    assert api.ok(api.get("/prompts/a/variants/1.0.0", "read"))["template"] == "a {{ x }}"
    assert api.ok(api.get("/prompts/a/serving", "read"))["version"] == "1.0.0"
    assert api.get("/prompts/zzz", "read").status_code == 404
    assert api.get("/prompts/a/variants/2.0.0", "read").status_code == 404
    assert api.get("/prompts/a/variants/not-a-version", "read").status_code == 422
    assert api.get("/prompts", "read", params={"limit": 0}).status_code == 422


def test_state_changes_shares_labels_and_rollback(api: Api) -> None:
    two_variants(api)
    over = api.post("/prompts/p/variants/1.1.0/activate", {"share": 10})
    assert over.status_code == 409 and over.json()["code"] == "traffic_share"
    shares = api.ok(api.put("/prompts/p/shares", {"shares": {"1.0.0": 80, "1.1.0": 20}, "reason": "canary"}))
    assert {v["version"]: v["share"] for v in shares} == {"1.0.0": 80.0, "1.1.0": 20.0}
    assert api.put("/prompts/p/shares", {"shares": {"1.1.0": 30}}).status_code == 409
    assert api.ok(api.get("/prompts/p"))["active"] == {"1.0.0": 80.0, "1.1.0": 20.0}
    off = api.ok(api.post("/prompts/p/variants/1.1.0/deactivate", {"reason": "enough"}))
    assert off["active"] is False
    api.ok(api.put("/prompts/p/labels/staging", {"version": "1.1.0"}))
    assert api.ok(api.get("/prompts/p/labels/staging"))["version"] == "1.1.0"
    assert api.put("/prompts/p/labels/Bad Label", {"version": "1.1.0"}).status_code == 422
    assert api.delete("/prompts/p/labels/staging").status_code == 204
    assert api.get("/prompts/p/labels/staging").status_code == 404
    assert api.delete("/prompts/p/labels/staging").status_code == 404
    rolled = api.ok(api.post("/prompts/p/rollback", {"version": "1.1.0", "reason": "try B"}))
    assert rolled["share"] == 100.0 and "production" in rolled["labels"]
    history = api.ok(api.get("/prompts/p/history", params={"limit": 3}))
    assert history["items"][0]["action"] in ("label", "rollback") and history["next"] is not None
    assert any(h["reason"] == "try B" for h in history["items"])


def test_lineage_and_diff(api: Api) -> None:
    two_variants(api)
    register(
        api,
        "p",
        "Variant C for {{ x }} and {{ y }}",
        parent="1.1.0",
        strategy="few_shot",
        meta={"test_score": 0.9},
    )
    lineage = api.ok(api.get("/prompts/p/lineage"))
    root = lineage["roots"][0]
    assert root["version"] == "1.0.0" and root["children"][0]["version"] == "1.1.0"
    grandchild = root["children"][0]["children"][0]
    assert (grandchild["version"], grandchild["strategy"], grandchild["score"]) == ("2.0.0", "few_shot", 0.9)
    sub = api.ok(api.get("/prompts/p/lineage", params={"version": "2.0.0"}))
    assert sub["ancestors"] == ["1.0.0", "1.1.0"] and sub["roots"][0]["version"] == "2.0.0"
    diff = api.ok(api.get("/prompts/p/diff", params={"from": "1.0.0", "to": "2.0.0"}))
    assert diff["variables_added"] == ["y"] and "-Variant A" in diff["template_diff"]
    assert api.get("/prompts/p/diff", params={"from": "1.0.0", "to": "9.0.0"}).status_code == 404
    assert api.get("/prompts/p/diff", params={"from": "1.0.0"}).status_code == 422
