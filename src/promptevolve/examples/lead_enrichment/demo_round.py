"""The demo's two loop steps on the bundled leads: a short evolution round and one autopilot pass.

Both belong to the example, not the library: they know the task's dataset (``leads.jsonl``, imported as
dataset ``leads``: seed 1, locale-stratified 50/20/30 split, evaluator ``lead_enrichment``) and its
prompts. ``quick_round`` evolves a prompt for a few dozen calls with the two strategies that need no
optimizer call (few-shot and context expansion) and one finalist: one to two minutes with the local
model on a laptop. ``demo_pass`` gives the prompt a small autonomous policy if it has none (evolve on
the bundled leads, drift off: the demo database has too little traffic for a reference), runs one
autopilot pass over it and prints each step with its reason. With so few test items the gate usually
refuses, and both say so with their figures; ``promptevolve evolve`` with a larger budget, or
``promptevolve autopilot serve`` on production feedback, does the real work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from promptevolve.autopilot.models import PassReport
from promptevolve.autopilot.policy import get_policy, update_policy
from promptevolve.compose import compose, compose_autopilot
from promptevolve.core.errors import NotFoundError
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings
from promptevolve.evolution.datasets import get_dataset, import_jsonl
from promptevolve.evolution.search import Progress
from promptevolve.evolution.service import EvolutionReport, EvolutionService, EvolveRequest
from promptevolve.experiments import ExperimentService
from promptevolve.registry import Registry
from promptevolve.store.engine import Store
from promptevolve.store.migrate import open_store

__all__ = ["LEADS_FILE", "QUICK_DATASET", "bundled_leads", "demo_pass", "demo_policy", "quick_round"]

QUICK_DATASET = "leads"
LEADS_FILE = Path(__file__).with_name("leads.jsonl")


def bundled_leads(store: Store) -> None:
    """Import the bundled leads as dataset ``leads`` unless the store already has one of that name."""
    try:
        get_dataset(store, QUICK_DATASET)
    except NotFoundError:
        import_jsonl(
            store, QUICK_DATASET, LEADS_FILE, seed=1, evaluator="lead_enrichment", description="bundled leads"
        )


def quick_round(
    store: Store,
    *,
    prompt: str = "ai_enrichment_en",
    budget: int = 40,
    max_items: int = 6,
    seed: int = 0,
    registry: Registry | None = None,
    providers: Mapping[str, Provider] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> EvolutionReport:
    """Evolve ``prompt`` for a few dozen calls on the bundled leads; returns the run's report."""
    bundled_leads(store)
    # The caller's registry when it has one (the CLI's, which tells the serving cache of changes).
    registry = registry or Registry(store)
    experiments = ExperimentService(store, registry=registry)
    service = EvolutionService(store, registry=registry, experiments=experiments, providers=providers)
    request = EvolveRequest(
        prompt=prompt,
        dataset=QUICK_DATASET,
        budget=budget,
        seed=seed,
        strategies=["few_shot", "context"],
        max_items=max_items,
        minibatch=3,
        children=2,
        finalists=1,
        max_generations=4,
    )
    return service.evolve(request, on_progress=on_progress)


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
    registry = Registry(store, actor=actor)  # the policy's writer
    bundled_leads(store)
    if get_policy(registry, prompt) is None:
        update_policy(registry, prompt, demo_policy(budget, max_items), actor=actor)
        echo(
            f"{prompt}: autonomous autopilot policy, {budget} evolution calls a day, "
            f"on dataset {QUICK_DATASET}"
        )
    pilot = compose_autopilot(compose(store, actor=actor, providers=providers))
    report = pilot.run_once(prompts=[prompt])
    for result in report.prompts:
        if not result.steps:
            echo(f"{result.prompt}: {result.outcome}" + (f" ({result.error})" if result.error else ""))
        for step in result.steps:
            echo(f"{result.prompt}: {step.action}: {step.reason}")
    return report
