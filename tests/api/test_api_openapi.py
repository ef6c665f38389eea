"""The OpenAPI document is complete (auth, bodies, every error as a problem) and accurate: schemathesis
generates requests for every operation, on SQLite and PostgreSQL, and finds no server error (5xx) and no
response that breaks the schema (status, content type, headers, body).

One schemathesis check is left out: ``positive_data_acceptance`` (a request valid by the schema must
not be refused with 4xx). Validation that JSON Schema cannot state (a template's Jinja syntax, a known
provider, an experiment's shares summing to 100 %) rightly answers 422 to schema-valid input.
``PROMPTEVOLVE_SCHEMATHESIS_EXAMPLES`` sets the examples per operation (15 by default, to stay fast).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from tests.api.support import Api, gated_candidate, running_api, two_variants

from promptevolve.api import create_api

UNAUTHENTICATED = {"/health", "/ready"}
EXAMPLES = int(os.environ.get("PROMPTEVOLVE_SCHEMATHESIS_EXAMPLES", "15"))


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
        if path not in UNAUTHENTICATED:
            assert op["security"] == [{"ApiKey": []}], where
            assert {"401", "503"} <= set(responses) and ("403" in responses or path == "/auth/whoami"), where
            assert "WWW-Authenticate" in responses["401"]["headers"], where
            assert op["summary"].endswith(("[read]", "[execute]", "[admin]")) or path == "/auth/whoami", where
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


def run_schemathesis(api: Api) -> dict[str, BaseException]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    failures: dict[str, BaseException] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(headers=api.headers(), excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Exception as exc:
            failures[operation.label] = exc
    return failures


def test_schemathesis_finds_no_server_error_and_no_schema_violation(database_url: str) -> None:
    with running_api(database_url) as api:
        two_variants(api)
        # A policy and a candidate awaiting approval, so that the status answers with every part filled.
        api.ok(api.client.patch("/prompts/p/autopilot", json={"autonomy": "propose"}, headers=api.headers()))
        gated_candidate(api.store, "p", "1.1.0")
        failures = run_schemathesis(api)
    report = "\n\n".join(f"{label}:\n{str(exc)[:1500]}" for label, exc in failures.items())
    assert not failures, report
