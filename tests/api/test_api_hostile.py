"""Hostile values over HTTP: every 2xx ``run`` names a record that is readable afterwards (NUL, lone
surrogates), template failures are answers not 500s, and unsafe templates are refused at registration."""

from __future__ import annotations

import pytest
from tests.api.support import PROBLEM, Api, register, running_api

from promptevolve.providers.scripted import ScriptedProvider

# JSON bodies as a client may send them (raw text: NUL travels as a \\u escape).
HOSTILE_BODIES = [
    '{"variables": {"x": "nul \\u0000 inside"}}',
    '{"variables": {"x": "nul \\u0000"}, "unit_id": "u\\u0000"}',
    '{"variables": {"x": "fine", "extra\\u0000key": "\\u0000"}}',
    '{"variables": {"x": "plain"}}',  # the model's own NUL and lone surrogate
]
# Lone surrogates are not valid JSON text (RFC 8259 §8.2 leaves them undefined; the API parses strictly).
SURROGATE_BODIES = [
    b'{"variables": {"x": "a"}, "unit_id": "u\\ud800"}',
    b'{"variables": {"x": "lone \\ud800 surrogate"}}',
    b'{"variables": {"x": "fine", "key\\udc80": "v"}}',
]


@pytest.mark.parametrize("body", SURROGATE_BODIES, ids=range(len(SURROGATE_BODIES)))
def test_a_body_with_a_lone_surrogate_is_refused_and_nothing_is_recorded(api: Api, body: bytes) -> None:
    register(api, "p", "Say {{ x }}")
    api.ok(api.post("/prompts/p/variants/1.0.0/activate", {}))
    headers = {**api.headers(), "Content-Type": "application/json"}
    refused = api.client.post("/prompts/p/run", content=body, headers=headers)
    assert refused.status_code == 422 and "Invalid JSON" in refused.text
    assert api.ok(api.get("/executions"))["items"] == []


def _echo() -> ScriptedProvider:
    """A model that answers with what it was given, a NUL and a lone surrogate of its own."""
    return ScriptedProvider(lambda prompt, settings: f"echo\x00{prompt.as_messages()[-1]['content']}\ud800")


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_every_2xx_run_is_readable_afterwards_and_takes_feedback(database_url: str, body: str) -> None:
    with running_api(database_url, providers={"scripted": _echo()}) as api:
        register(api, "p", "Say {{ x }}")
        api.ok(api.post("/prompts/p/variants/1.0.0/activate", {}))
        response = api.client.post(
            "/prompts/p/run",
            content=body.encode(),
            headers={**api.headers(), "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        run = response.json()
        assert run["recorded"] is True
        stored = api.ok(api.get(f"/executions/{run['execution_id']}"))
        assert "\x00" not in stored["output"] and stored["output"].endswith("\\ud800")
        assert run["text"] == stored["output"]  # answered as stored
        assert "output: 1 lone surrogates escaped" in stored["repairs"]
        api.ok(api.post(f"/executions/{run['execution_id']}/feedback", {"thumbs": True}), 201)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ (9**(9**8)) % 2 }}", "constant expression too large"),
        ("{{ x.__class__.__mro__ }}", "unsafe attribute access"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}", "nested loops"),
    ],
)
def test_unsafe_templates_are_refused_at_registration_with_the_reason(
    api: Api, template: str, reason: str
) -> None:
    response = api.post(
        "/variants", {"prompt": "p", "template": template, "settings": {"provider": "scripted"}}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert reason in response.json()["detail"]


def test_a_template_failing_at_render_is_an_answer_not_a_server_error(database_url: str) -> None:
    with running_api(database_url, providers={"scripted": _echo()}, raise_server_exceptions=False) as api:
        register(api, "p", "{{ 1 / x }}")
        api.ok(api.post("/prompts/p/variants/1.0.0/activate", {}))
        failed = api.post("/prompts/p/run", {"variables": {"x": 0}})
        assert failed.status_code < 500 or failed.headers["content-type"].startswith(PROBLEM)
        assert "ZeroDivisionError" in failed.text
        saved = api.ok(api.post("/prompts/p/run", {"variables": {"x": 0}, "fallback": "Plain {{ x }}"}))
        assert saved["status"] == "fallback" and saved["fallback_reason"] == "baseline_failed"


@pytest.mark.parametrize(
    "body",
    [
        '{"thumbs": true, "comment": "nul \\u0000 inside"}',
        '{"correction": "gold \\u0000 label"}',
        '{"rating": 3, "comment": "\\u0000"}',
    ],
    ids=["comment", "correction", "only-nul"],
)
def test_feedback_text_with_a_nul_is_refused_alike_on_both_databases_and_nothing_is_stored(
    api: Api, body: str
) -> None:
    register(api, "p", "Say {{ x }}")
    api.ok(api.post("/prompts/p/variants/1.0.0/activate", {}))
    run = api.ok(api.post("/prompts/p/run", {"variables": {"x": "a"}}))
    refused = api.client.post(
        f"/executions/{run['execution_id']}/feedback",
        content=body.encode(),
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert "NUL character" in refused.json()["detail"]
    assert api.ok(api.get(f"/executions/{run['execution_id']}"))["feedback"] == []


def test_a_prompt_description_or_variant_settings_with_a_nul_is_a_422_naming_the_column(api: Api) -> None:
    for body, column in [
        ({"prompt": "q", "template": "hi", "description": "d\x00"}, "prompts.description"),
        ({"prompt": "q", "template": "hi", "settings": {"model": "m\x00"}}, "prompt_variants.settings"),
        ({"prompt": "q", "template": "hi", "rationale": "r\x00"}, "prompt_variants.rationale"),
    ]:
        refused = api.post("/variants", body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "unstorable_value"
        assert f"cannot store {column}" in refused.json()["detail"]
    assert api.ok(api.get("/prompts"))["items"] == []
