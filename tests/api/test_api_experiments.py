"""Experiments over HTTP: create, start, pause, resume, analyze (applied or not), report, decision log,
promote, roll back, stop; per-arm metrics; wrong states are 409 and unknown ids 404."""

from __future__ import annotations

from typing import Any

from tests.api.support import Api, drive, two_variants

THUMBS = {"1.0.0": 0.3, "1.1.0": 0.9}


def plan(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = dict(
        prompt="p",
        control="1.0.0",
        treatments=["1.1.0"],
        metric="thumbs",
        mde=0.1,
        min_sample=40,
        ramp=[50, 100],
        min_units_per_step=20,
        guardrail_min_units=20,
        srm_grace_s=0,
    )
    body.update(changes)
    return body


def test_a_clear_winner_is_promoted_and_the_log_and_report_show_why(api: Api) -> None:
    two_variants(api)
    created = api.ok(api.post("/experiments", plan()), 201)
    assert created["status"] == "draft" and created["created_by"] == "key:admin"
    exp = f"/experiments/{created['id']}"
    assert api.ok(api.post(f"{exp}/start"))["status"] == "running"
    assert api.post(f"{exp}/start").status_code == 409
    status = "running"
    for round_ in range(6):
        drive(api.store, api.settings, units=60, thumbs=THUMBS, seed=round_, start=60 * round_)
        peek = api.ok(api.get(f"{exp}/analysis", "read"))
        assert peek["applied"] is False and peek["experiment"]["status"] == status
        assert peek["srm"] is not None and peek["srm"]["blocks"] is False
        result = api.ok(api.post(f"{exp}/analyze"))
        status = result["experiment"]["status"]
        if status == "concluded":
            break
    assert result["verdict"] == "promoted" and result["experiment"]["winner"] == "1.1.0", result
    log = api.ok(api.get(f"{exp}/decisions", "read"))
    assert [d["action"] for d in log["items"]] == ["create", "start", "winner", "promote"]
    report = api.ok(api.get(f"{exp}/report", "read", params={"buckets": 10}))
    assert report["series"] and report["series"][-1]["ci_low"] > 0 and len(report["decisions"]) == 4
    arms = api.ok(api.get(f"/metrics{exp}", "read"))
    assert {a["arm"]: a["version"] for a in arms["arms"]} == {"control": "1.0.0", "treatment": "1.1.0"}
    assert arms["status"] == "concluded" and arms["arms"][1]["lift"]["estimate"] > 0
    assert api.ok(api.get("/prompts/p"))["active"] == {"1.1.0": 100.0}
    back = api.ok(api.post(f"{exp}/rollback", {"reason": "regret"}))
    assert back["status"] == "rolled_back" and api.ok(api.get("/prompts/p"))["active"] == {"1.0.0": 100.0}


def test_manual_pause_resume_promote_stop_and_refusals(api: Api) -> None:
    two_variants(api)
    first = api.ok(api.post("/experiments", plan(name="manual")), 201)["id"]
    exp = f"/experiments/{first}"
    assert api.post(f"{exp}/promote").status_code == 409, "a draft has nothing to promote"
    api.ok(api.post(f"{exp}/start"))
    assert api.ok(api.post(f"{exp}/pause", {"reason": "holiday"}))["status"] == "paused"
    assert api.ok(api.post(f"{exp}/start"))["status"] == "running"
    second = api.ok(api.post("/experiments", plan(name="second")), 201)["id"]
    clash = api.post(f"/experiments/{second}/start")
    assert clash.status_code == 409 and f"experiment {first} already routes" in clash.json()["detail"]
    no_winner = api.post(f"{exp}/promote")
    assert no_winner.status_code == 409 and "no winner yet" in no_winner.json()["detail"]
    assert api.post(f"{exp}/promote", {"arm": "control"}).status_code == 422
    promoted = api.ok(api.post(f"{exp}/promote", {"arm": "treatment", "reason": "product call"}))
    assert promoted["status"] == "concluded" and promoted["winner"] == "1.1.0"
    assert api.post(f"{exp}/stop").status_code == 409
    assert api.ok(api.post(f"/experiments/{second}/stop"))["status"] == "stopped"
    listed = api.ok(api.get("/experiments", "read", params={"prompt": "p"}))
    assert [e["name"] for e in listed["items"]] == ["manual", "second"] and listed["total"] == 2
    reasons = [d["reason"] for d in api.ok(api.get(f"{exp}/decisions"))["items"]]
    assert "holiday" in reasons and "product call" in reasons


def test_unknown_or_invalid_experiments(api: Api) -> None:
    two_variants(api)
    assert api.get("/experiments/999", "read").status_code == 404
    assert api.post("/experiments/999/start").status_code == 404
    assert api.get("/experiments/0", "read").status_code == 422
    assert api.post("/experiments", plan(treatments=["9.9.9"])).status_code == 404
    bad = api.post("/experiments", plan(shares=[30, 30]))
    assert bad.status_code == 422 and "shares must be above 0 and sum to 100" in bad.json()["detail"]
    assert api.post("/experiments", plan(metric="nonsense")).status_code == 422
