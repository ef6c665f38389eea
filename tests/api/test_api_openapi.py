"""The OpenAPI document is complete (auth, bodies, every error as a problem) and accurate: schemathesis runs
every phase (examples, coverage, fuzzing, stateful) on SQLite and PostgreSQL and finds no server error
(5xx) and no conformance failure: statuses, content types, headers (``Allow`` on 405 among them) and
bodies as documented, and every request that breaks the schema refused. ``tests/api/contract.py`` runs
it and says which check is left out and why.

``PROMPTEVOLVE_SCHEMATHESIS_EXAMPLES`` bounds the cases per operation and phase (10 by default: about a
minute a database on two shared cores); ``bench/api_contract.py`` runs bigger budgets for RELIABILITY.md.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from tests.api.contract import PATCH_CREATES, PHASES, contract_config, run_contract
from tests.api.support import PROBLEM, Api, gated_candidate, running_api, two_variants

from promptevolve.api import create_api

UNAUTHENTICATED = {"/health", "/ready"}
EXAMPLES = int(os.environ.get("PROMPTEVOLVE_SCHEMATHESIS_EXAMPLES", "10"))


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_every_operation_documents_its_auth_its_bodies_and_its_errors_as_problems() -> None:
    spec = create_api().openapi()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        auth_only = path.startswith("/auth/")  # who is calling: any valid key, no scope to lack
        if path not in UNAUTHENTICATED:
            assert op["security"] == [{"ApiKey": []}], where
            assert {"401", "503"} <= set(responses) and ("403" in responses or auth_only), where
            assert "WWW-Authenticate" in responses["401"]["headers"], where
            assert op["summary"].endswith(("[read]", "[execute]", "[admin]")) or path.startswith("/auth/"), (
                where
            )
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in responses, where
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, where
            elif status != "204":
                assert "schema" in response["content"]["application/json"], where
        if "requestBody" in op:
            assert "schema" in op["requestBody"]["content"]["application/json"], where
    assert len(operations(spec)) >= 40


def seeded(api: Api) -> None:
    """Two variants, a policy and a candidate awaiting approval, so that reads answer with every part
    filled and the examples in the document name things that exist."""
    two_variants(api)
    api.ok(api.client.patch("/prompts/p/autopilot", json={"autonomy": "propose"}, headers=api.headers()))
    gated_candidate(api.store, "p", "1.1.0")


@pytest.mark.slow
def test_schemathesis_all_phases_find_no_server_error_and_no_conformance_failure(database_url: str) -> None:
    with running_api(database_url) as api:
        seeded(api)
        report = run_contract(api.client.app, api.headers(), examples=EXAMPLES)
    assert report.phases_run == set(PHASES), report.describe()
    assert sum(report.cases.values()) > 50 * EXAMPLES, report.describe()
    assert not report.errors, report.describe()
    assert not report.server_errors, report.describe()
    assert not report.conformance_failures, report.describe()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/experiments", "GET, POST"),
        ("POST", "/prompts/p/autopilot", "GET, PATCH, DELETE"),
        ("PATCH", "/prompts/p/labels/production", "GET, PUT, DELETE"),
        ("PUT", "/evolution/jobs", "GET, POST"),
    ],
)
def test_method_not_allowed_names_every_method_of_the_path(
    api: Api, method: str, path: str, allow: str
) -> None:
    response = api.client.request(method, path, headers=api.headers())
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == allow
    assert response.json()["code"] == "method_not_allowed"


def test_unknown_path_is_a_problem(api: Api) -> None:
    response = api.get("/no/such/thing")
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM)
    assert "no such endpoint" in response.json()["detail"]


@pytest.mark.parametrize("body", [b"\xff\xfe{", b"{not json", b'{"version": "1.0.0"'])
def test_a_body_that_does_not_parse_is_a_422_problem_like_any_malformed_body(api: Api, body: bytes) -> None:
    headers = {**api.headers(), "content-type": "application/json"}
    response = api.client.post("/prompts/p/rollback", content=body, headers=headers)
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM), response.text
    problem = response.json()
    assert problem["code"] == "validation" and problem["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("since", ["2020", "2026-12-06", "2026-12-06T10:00:00", "yesterday", "1e9"])
def test_timestamps_outside_rfc3339_are_refused_not_guessed(api: Api, since: str) -> None:
    for path in ("/executions", "/metrics/prompts/p/variants/1.0.0"):
        response = api.get(path, "read", params={"since": since})
        assert response.status_code == 422, (path, since, response.text)
        assert "RFC 3339" in response.json()["detail"]


def test_rfc3339_timestamps_with_an_offset_are_accepted(api: Api) -> None:
    two_variants(api)
    for since in ("2026-12-06T10:00:00Z", "2026-12-06T10:00:00.5+01:00"):
        assert api.get("/executions", "read", params={"since": since}).status_code == 200


def test_patch_after_delete_reconfigures_the_autopilot_and_a_read_after_delete_is_404(api: Api) -> None:
    """The documented behaviour schemathesis's use_after_free check is spared (tests/api/contract.py)."""
    two_variants(api)
    headers = api.headers()
    api.ok(api.client.patch("/prompts/p/autopilot", json={"autonomy": "propose"}, headers=headers))
    assert api.delete("/prompts/p/autopilot").status_code == 204
    assert api.get("/prompts/p/autopilot").status_code == 404  # read after delete: gone
    again = api.ok(api.client.patch("/prompts/p/autopilot", json={}, headers=headers))
    assert again["autonomy"] != "propose"  # created anew from the defaults, not the deleted policy


def test_the_contract_spares_use_after_free_only_for_the_patch_that_creates() -> None:
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_api(), config=contract_config({}, examples=2)
    )
    spared = []
    for result in schema.get_all_operations():
        operation = result.ok()
        checks = schema.config.checks_config_for(operation=operation, phase="stateful")
        if not checks.use_after_free.enabled:
            spared.append(operation.label)
    assert spared == [PATCH_CREATES]
