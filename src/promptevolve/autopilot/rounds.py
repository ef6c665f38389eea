"""One evolution round inside a budget grant: the request, data sized to the grant, its log entry.

The autopilot evolves through ``EvolutionService.evolve`` like a person would, with three choices of
its own:

- **the data**: production feedback of the prompt (``from_feedback``: corrections are gold labels,
  approved answers are positive examples), rebuilt at each round into dataset ``autopilot.<prompt>``,
  unless the policy names a dataset;
- **its size**: validation costs at most ``finalists + 1`` calls an item and the test at most 3 (parent,
  candidate, and the parent constrained to the labels when the evaluator declares them), so the items
  per split are capped to what the grant can pay while leaving the search at least 40 % of the calls.
  The evolution budget counts optimization calls only, so the grant is split: the test stage gets
  ``3 × items`` calls (``test_budget``) and the search and validation the rest; the ledger is charged
  both. If the search still refuses the grant (its token bound is conservative), the round is retried
  with half the items, down to 2, before it is given up. A refusal happens before any model call;
- **its seed**: the number of rounds so far, so rounds do not repeat each other.

Its strategies are the policy's, else chosen by the task as ``evolve`` chooses them: ``labels``,
``few_shot``, ``retrieval`` when the evaluator declares a label set (``evolution.evaluator_options``,
e.g. ``{"labels": ["spam", "ham"]}``), else the general list.
"""

from __future__ import annotations

from typing import Any

from promptevolve.autopilot.budget import Grant
from promptevolve.autopilot.policy import EvolutionPolicy
from promptevolve.core.errors import BudgetExceededError
from promptevolve.evolution import EvolutionReport, EvolutionService, EvolveRequest

__all__ = ["dataset_name", "evolved_figures", "evolved_reason", "items_for", "run_round"]


def dataset_name(prompt: str, policy: EvolutionPolicy) -> str:
    return policy.dataset or f"autopilot.{prompt}"


def items_for(calls: int, finalists: int, cap: int | None) -> int:
    """Items per split that ``calls`` can afford (see the module docstring), at most ``cap``."""
    affordable = max(int(0.6 * calls / (finalists + 4)), 2)
    return affordable if cap is None else min(cap, affordable)


def run_round(
    service: EvolutionService, prompt: str, parent: str, policy: EvolutionPolicy, grant: Grant, *, seed: int
) -> EvolutionReport:
    """Evolve ``prompt@parent`` within ``grant``; raises what ``evolve`` raises when it cannot run."""
    items = items_for(grant.calls, policy.finalists, policy.max_items)
    rebuild = policy.dataset is None
    while True:
        request = EvolveRequest(
            prompt=prompt,
            dataset=dataset_name(prompt, policy),
            from_feedback=rebuild,
            budget=max(grant.calls - 3 * items, 1),
            test_budget=3 * items,
            max_tokens=grant.tokens,
            version=parent,
            strategies=policy.strategies,
            seed=seed,
            evaluator=policy.evaluator,
            evaluator_options=policy.evaluator_options,
            max_items=items,
            minibatch=policy.minibatch,
            children=policy.children,
            finalists=policy.finalists,
            max_generations=policy.max_generations,
            proposer=policy.proposer,
        )
        try:
            return service.evolve(request)
        except BudgetExceededError:
            if items <= 2:
                raise
            items, rebuild = max(items // 2, 2), False


def evolved_reason(report: EvolutionReport) -> str:
    spend = f"{report.spend.calls} calls, {report.spend.tokens} tokens"
    gate = report.result.gate
    if report.child is None:
        return f"evolution round ({spend}): no candidate beat {report.parent.version} on validation"
    if gate is None:
        return f"evolution round ({spend}): {report.child.version} not tested on held-out data"
    ci = f"{gate.improvement.mean:+.3f} [{gate.improvement.low:+.3f}, {gate.improvement.high:+.3f}]"
    verdict = "passed the held-out gate" if gate.passed else "rejected by the held-out gate"
    return f"evolution round ({spend}): {report.child.version} {verdict}, improvement {ci}"


def evolved_figures(report: EvolutionReport, grant: Grant, trigger: str) -> dict[str, Any]:
    gate = report.result.gate
    figures: dict[str, Any] = {
        "run_id": report.run_id,
        "parent": report.parent.version,
        "candidate": report.child.version if report.child else None,
        "status": report.status,
        "trigger": trigger,
        "calls": report.spend.calls,
        "tokens": report.spend.tokens,
        "budget_calls": grant.calls,
        "budget_tokens": grant.tokens,
        "dataset": report.dataset,
        "candidates": len(report.result.candidates),
        "unusable_proposals": len(report.result.unusable),
    }
    if gate is not None:
        figures |= {
            "improvement": gate.improvement.mean,
            "improvement_ci": [gate.improvement.low, gate.improvement.high],
            "parent_test_score": gate.parent.mean,
            "candidate_test_score": gate.child.mean,
            "test_items": gate.improvement.n,
        }
    return figures
