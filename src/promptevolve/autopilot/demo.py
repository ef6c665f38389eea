"""One autopilot pass that shows its decisions: how the README's main job ends.

``demo_pass`` gives the prompt a small autonomous policy if it has none (evolve on the bundled leads,
a budget of a few dozen calls, drift off: the demo database has too little traffic for a reference),
runs one pass over that prompt, prints each step with its reason and returns the pass report. With
the local model the round takes a minute or two; with so few test items the gate usually rejects the
candidate, and the pass says so with its figures. A real deployment evolves from production feedback
(the default policy) and runs ``promptevolve autopilot serve``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from promptevolve.autopilot.models import PassReport
from promptevolve.autopilot.pilot import Autopilot
from promptevolve.autopilot.policy import get_policy, update_policy
from promptevolve.core.errors import NotFoundError
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings
from promptevolve.evolution import QUICK_DATASET, EvolutionService, get_dataset, import_jsonl
from promptevolve.experiments import ExperimentService
from promptevolve.registry import Registry
from promptevolve.store.engine import Store
from promptevolve.store.migrate import open_store

__all__ = ["demo_pass", "demo_policy"]


def demo_policy(budget: int, max_items: int) -> dict[str, Any]:
    return {
        "autonomy": "autonomous",
        "daily_calls": budget,
        "evolution": {
            "min_feedback": 1,
            "round_calls": budget,
            "dataset": QUICK_DATASET,
            "evaluator": "lead_enrichment",
            "strategies": ["few_shot", "context"],
            "max_items": max_items,
            "minibatch": 3,
            "finalists": 1,
            "max_generations": 4,
        },
        "experiment": {"ramp": [10, 50, 100], "min_units_per_step": 20, "guardrail_min_units": 20},
        "drift": {"enabled": False},
    }


def _bundled_leads(store: Store) -> None:
    try:
        get_dataset(store, QUICK_DATASET)
    except NotFoundError:
        path = Path(str(files("promptevolve.examples.lead_enrichment") / "leads.jsonl"))
        import_jsonl(
            store, QUICK_DATASET, path, seed=1, evaluator="lead_enrichment", description="bundled leads"
        )


def demo_pass(
    store: Store | str,
    *,
    prompt: str = "ai_enrichment_en",
    budget: int = 40,
    max_items: int = 6,
    providers: Mapping[str, Provider] | None = None,
    echo: Callable[[str], None] | None = None,
    console: Any = None,
    actor: str = "autopilot demo",
) -> PassReport:
    """Run one autopilot pass over ``prompt`` and print its decisions (see the module docstring).

    ``store`` is an open store or a database URL (opened, migrated, closed again); lines go to
    ``echo``, else to ``console.print`` (a Rich console), else to ``print``."""
    write: Callable[[str], None] = print
    if echo is not None:
        write = echo
    elif console is not None:  # reasons hold brackets: print them as they are, not as Rich markup
        write = functools.partial(console.print, markup=False, highlight=False)
    if isinstance(store, str):
        opened = open_store(Settings(database_url=store))
        try:
            return _pass(opened, prompt, budget, max_items, providers, write, actor)
        finally:
            opened.dispose()
    return _pass(store, prompt, budget, max_items, providers, write, actor)


def _pass(
    store: Store,
    prompt: str,
    budget: int,
    max_items: int,
    providers: Mapping[str, Provider] | None,
    echo: Callable[[str], None],
    actor: str,
) -> PassReport:
    registry = Registry(store, actor=actor)
    _bundled_leads(store)
    if get_policy(registry, prompt) is None:
        update_policy(registry, prompt, demo_policy(budget, max_items), actor=actor)
        echo(
            f"{prompt}: autonomous autopilot policy, {budget} evolution calls a day, "
            f"on dataset {QUICK_DATASET}"
        )
    # Below promptevolve.compose (a layer up): the services wired as compose wires them.
    experiments = ExperimentService(store, registry=registry, actor=actor)
    evolution = EvolutionService(
        store, registry=registry, experiments=experiments, providers=providers, actor=actor
    )
    pilot = Autopilot(store, registry=registry, experiments=experiments, evolution=evolution, actor=actor)
    report = pilot.run_once(prompts=[prompt])
    for result in report.prompts:
        if not result.steps:
            echo(f"{result.prompt}: {result.outcome}" + (f" ({result.error})" if result.error else ""))
        for step in result.steps:
            echo(f"{result.prompt}: {step.action}: {step.reason}")
    return report
