"""A prompt's scoring over HTTP: read with the defaults filled in, changed by partial merges (audited),
every refusal (401, 403, 404, 409, 422) writing nothing, and new weights used by the experiments created
afterwards while an experiment created before keeps its copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update
from tests.api.support import PROBLEM, Api, drive, two_variants

from promptevolve.store.tables import Prompt

SCORING = "/prompts/p/scoring"


@pytest.fixture
def rows(db_snapshot: Callable[[], Any]) -> Callable[[], Any]:
    """Every row but the keys' (whose ``last_used_at`` moves when a refused key is first used)."""
    return lambda: {table: found for table, found in db_snapshot().items() if table != "api_keys"}


def patch(api: Api, body: Any, path: str = SCORING, who: str = "admin") -> Any:
    return api.client.patch(path, json=body, headers=api.headers(who))


def test_scoring_is_read_with_defaults_then_merged_field_by_field_audited(api: Api) -> None:
    two_variants(api)
    default = api.ok(api.get(SCORING, "read"))
    assert default["stored"] is False and default["normalised"] is True
    assert default["config"]["weights"] == {
        "accuracy": 0.4,
        "response_time": 0.2,
        "consistency": 0.2,
        "satisfaction": 0.2,
    }
    changed = api.ok(patch(api, {"weights": {"accuracy": 0.6}, "min_coverage": 0.3}))
    assert changed["stored"] is True and changed["config"]["min_coverage"] == 0.3
    assert changed["config"]["weights"] == {**default["config"]["weights"], "accuracy": 0.6}
    assert (changed["weights_sum"], changed["normalised"]) == (pytest.approx(1.2), False)
    assert changed["shares"]["accuracy"] == pytest.approx(0.5), "0.6 of a sum of 1.2"
    lists = api.ok(patch(api, {"accuracy_sources": ["correction"], "consistency_metrics": ["format_valid"]}))
    assert lists["config"]["weights"]["accuracy"] == 0.6, "fields not given keep their value"
    assert lists["config"]["accuracy_sources"] == ["correction"]
    assert api.ok(api.get(SCORING, "read")) == lists
    assert api.ok(patch(api, lists["config"])) == lists, "what GET shows can be sent back"
    history = api.ok(api.get("/prompts/p/history", "read"))["items"]
    config = [h for h in history if h["action"] == "config"]
    assert len(config) == 3 and {h["actor"] for h in config} == {"key:admin"}
    assert config[-1]["before"] == {} and config[-1]["after"]["scoring"]["version"] == 1
    assert config[0]["after"]["scoring"] == {"version": 1, **lists["config"]}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"weights": {"accuracy": -1}}, ["body", "weights", "accuracy"]),
        ({"weights": {"accuracy": "0.5"}}, ["body", "weights", "accuracy"]),
        ({"weights": {"accuracy": 0}}, ["body", "weights"]),  # the merged weights: all four 0
        ({"weights": None}, ["body", "weights"]),
        ({"weights": {"fluency": 1}}, ["body", "weights", "fluency"]),
        ({"target_latency_ms": 0}, ["body", "target_latency_ms"]),
        ({"accuracy_sources": ["oracle"]}, ["body", "accuracy_sources", 0]),
        ({"accuracy_sources": []}, ["body", "accuracy_sources"]),
        ({"min_coverage": 1.5}, ["body", "min_coverage"]),
        ({"version": 2}, ["body", "version"]),
        ({"weights": {"accuracy": 1e308, "response_time": 1e308}}, ["body", "weights"]),  # sum overflows
    ],
)
def test_an_invalid_change_is_422_naming_the_field_and_writes_nothing(
    api: Api, rows: Callable[[], Any], body: dict[str, Any], where: list[Any]
) -> None:
    two_variants(api)
    api.ok(patch(api, {"weights": {"response_time": 0, "consistency": 0, "satisfaction": 0}}))
    before = rows()
    response = patch(api, body)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM, response.text
    problem = response.json()
    assert problem["code"] == "validation" and problem["errors"][0]["loc"] == where, problem
    assert rows() == before


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "nothing to change in the scoring of 'p'"),
        ({"consistency_metrics": ["format\x00valid"]}, "NUL character"),  # no database stores it
    ],
)
def test_an_empty_or_unstorable_change_is_422_and_writes_nothing(
    api: Api, rows: Callable[[], Any], body: dict[str, Any], detail: str
) -> None:
    two_variants(api)
    before = rows()
    response = patch(api, body)
    assert response.status_code == 422 and detail in response.json()["detail"], response.text
    assert rows() == before


def test_keys_scopes_and_unknown_prompts_are_refused_before_anything_is_written(
    api: Api, rows: Callable[[], Any]
) -> None:
    two_variants(api)
    before = rows()
    body = {"weights": {"accuracy": 1}}
    for method in ("get", "patch"):
        anonymous = api.client.request(method, SCORING, json=body)
        assert anonymous.status_code == 401 and "www-authenticate" in anonymous.headers, method
        unknown = api.client.request(method, "/prompts/nope/scoring", json=body, headers=api.headers())
        assert unknown.status_code == 404 and "unknown prompt 'nope'" in unknown.json()["detail"], method
    for who, method in (("read", "patch"), ("execute", "patch"), ("execute", "get")):
        refused = api.client.request(method, SCORING, json=body, headers=api.headers(who))
        assert refused.status_code == 403, (who, method, refused.text)
    assert rows() == before


def test_a_stored_scoring_this_release_cannot_read_is_409_and_left_alone(
    api: Api, rows: Callable[[], Any]
) -> None:
    two_variants(api)
    _store_future_section(api)
    before = rows()
    for response in (api.get(SCORING, "read"), patch(api, {"min_coverage": 0.5})):
        assert response.status_code == 409, response.text
        assert "version: 99" in response.json()["detail"]
    assert rows() == before


def _store_future_section(api: Api) -> None:
    """The section as a newer release would leave it (the registry refuses to write it)."""
    with api.store.write() as s:
        s.execute(update(Prompt).where(Prompt.name == "p").values(config={"scoring": {"version": 99}}))


def test_new_weights_score_experiments_created_afterwards_and_spare_one_created_before(api: Api) -> None:
    """Every call is fast (response_time 1) and thumbed down (satisfaction 0) and nothing else measures
    it, so the composite is 0.5 under the default weights and 0 once only satisfaction weighs."""
    two_variants(api)

    def experiment(name: str) -> str:
        body = {"prompt": "p", "control": "1.0.0", "treatments": ["1.1.0"], "name": name, "ramp": []}
        created = api.ok(api.post("/experiments", {**body, "metric": "composite", "srm_grace_s": 0}), 201)
        api.ok(api.post(f"/experiments/{created['id']}/start"))
        return f"/experiments/{created['id']}"

    def composite(exp: str) -> list[float]:
        """Mean and mean coverage of each arm, in a row."""
        arms = api.ok(api.get(f"{exp}/analysis", "read"))["arms"]
        return [x for arm in arms for x in (arm["mean"], arm["coverage"])]

    before = experiment("before")
    down = {"1.0.0": 0.0, "1.1.0": 0.0}
    drive(api.store, api.settings, units=30, thumbs=down)
    assert composite(before) == pytest.approx([0.5, 0.4] * 2)
    satisfaction_only = {"accuracy": 0, "response_time": 0, "consistency": 0, "satisfaction": 1}
    api.ok(patch(api, {"weights": satisfaction_only}))
    assert composite(before) == pytest.approx([0.5, 0.4] * 2), "a running experiment keeps its copy"
    api.ok(api.post(f"{before}/stop"))
    after = experiment("after")
    drive(api.store, api.settings, units=30, thumbs=down, start=30)
    assert composite(after) == pytest.approx([0.0, 1.0] * 2)
