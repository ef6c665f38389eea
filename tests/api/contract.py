"""schemathesis's whole run (every phase its engine has: examples, coverage, fuzzing, stateful) against the
API app in process, summarised as figures: cases per phase and failures per check and operation.

The test (``test_api_openapi``) asserts on the summary; ``bench/api_contract.py`` prints it for larger
runs (RELIABILITY.md). The engine is the one ``st run`` drives, so a figure here is a figure of the CLI.

One check is left out: ``positive_data_acceptance`` (a request valid by the schema must not be refused
with 4xx). Validation that JSON Schema cannot state (a template's Jinja syntax, a known provider, an
experiment's shares summing to 100 %, a version that exists) rightly answers 4xx to schema-valid input.

And one check is left out for one operation: ``use_after_free`` on ``PATCH /prompts/{name}/autopilot``.
schemathesis counts PATCH among the verbs that never create, so ``DELETE`` of the policy then ``PATCH``
answering 200 reads to it as a use after free (found at 60 examples, RELIABILITY.md). This API documents
that PATCH as "create or change a policy" (RFC 5789 lets a PATCH create): a policy is the prompt's
autopilot setting, not an entity of its own; the prompt, which DELETE does not touch, is the resource,
and every field has a default, so a PATCH after a DELETE configures the autopilot again, as intended.
The check stays on for every other operation (a GET of the policy after its DELETE must be 404).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

__all__ = ["PATCH_CREATES", "PHASES", "ContractReport", "contract_config", "run_contract"]

PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass
class ContractReport:
    """What one run found: cases per phase, phases that ran, failures per (check, operation)."""

    cases: Counter[str] = field(default_factory=Counter)
    phases_run: set[str] = field(default_factory=set)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def server_errors(self) -> dict[tuple[str, str], str]:
        return {k: v for k, v in self.failures.items() if k[0] == "not_a_server_error"}

    @property
    def conformance_failures(self) -> dict[tuple[str, str], str]:
        return {k: v for k, v in self.failures.items() if k[0] != "not_a_server_error"}

    def by_check(self) -> Counter[str]:
        return Counter(check for check, _ in self.failures)

    def describe(self) -> str:
        lines = [
            f"{sum(self.cases.values())} cases in {self.seconds:.0f} s ({dict(self.cases)}), "
            f"phases run: {sorted(self.phases_run)}, failures by check: {dict(self.by_check())}"
        ]
        lines += [f"{check} on {operation}:\n{text}" for (check, operation), text in self.failures.items()]
        lines += [f"error: {e}" for e in self.errors]
        return "\n\n".join(lines)


def _record(report: ContractReport, phase: str, recorder: Any) -> None:
    report.cases[phase] += len(recorder.cases)
    for checks in recorder.checks.values():
        for check in checks:
            if check.failure_info is not None:
                failure = check.failure_info.failure
                text = f"{failure.title}: {failure.message}\n{check.failure_info.code_sample}"
                report.failures.setdefault((check.name, recorder.label), text[:2000])


#: The one operation that creates with PATCH (see the module docstring), and the check it is spared.
PATCH_CREATES = "PATCH /prompts/{name}/autopilot"


def contract_config(headers: dict[str, str], *, examples: int, seed: int = 1) -> SchemathesisConfig:
    """The configuration of every run: all phases, every check but those the module docstring names."""
    return SchemathesisConfig.from_dict(
        {
            "headers": headers,
            "seed": seed,
            "workers": 1,
            "generation": {"max-examples": examples},
            "phases": {"stateful": {"max-steps": examples}},
            "checks": {"positive_data_acceptance": {"enabled": False}},
            "operations": [{"include-name": PATCH_CREATES, "checks": {"use_after_free": {"enabled": False}}}],
        }
    )


def run_contract(
    app: Any, headers: dict[str, str], *, examples: int, seed: int = 1, path: str = "/openapi.json"
) -> ContractReport:
    """Run every phase on ``app`` (an ASGI app serving its OpenAPI document at ``path``) with
    ``headers`` on each request; ``examples`` bounds the cases each operation gets per phase."""
    config = contract_config(headers, examples=examples, seed=seed)
    schema = schemathesis.openapi.from_asgi(path, app, config=config)
    report = ContractReport()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(report, event.phase.value, event.recorder)
        elif isinstance(event, events.PhaseFinished) and event.phase.name.value in PHASES:
            if event.status is not Status.SKIP:
                report.phases_run.add(event.phase.name.value)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            report.errors.append(str(getattr(event, "value", None) or getattr(event, "exception", event)))
        elif isinstance(event, events.EngineFinished):
            report.seconds = event.running_time
    return report
