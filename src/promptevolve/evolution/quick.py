"""A short evolution round on the bundled lead dataset: the README's main job calls ``quick_round``.

It imports the bundled leads as dataset ``leads`` if the store has none of that name (seed 1, locale-
stratified 50/20/30 split, evaluator ``lead_enrichment``), then evolves the prompt on at most
``max_items`` items per split with the two strategies that need no optimizer call (few-shot and context
expansion), one finalist, and a budget of a few dozen calls: about one to two minutes with the local
model on a laptop. With so few test items the gate rarely passes; the round shows the loop, the budget
and the evidence, and ``promptevolve evolve`` with a larger budget does the real work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.resources import files
from pathlib import Path

from promptevolve.core.errors import NotFoundError
from promptevolve.core.protocols import Provider
from promptevolve.evolution.datasets import get_dataset, import_jsonl
from promptevolve.evolution.search import Progress
from promptevolve.evolution.service import EvolutionReport, EvolutionService, EvolveRequest
from promptevolve.experiments import ExperimentService
from promptevolve.registry import Registry
from promptevolve.store.engine import Store

__all__ = ["QUICK_DATASET", "quick_round"]

QUICK_DATASET = "leads"


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
    try:
        get_dataset(store, QUICK_DATASET)
    except NotFoundError:
        path = Path(str(files("promptevolve.examples.lead_enrichment") / "leads.jsonl"))
        import_jsonl(
            store,
            QUICK_DATASET,
            path,
            seed=1,
            evaluator="lead_enrichment",
            description="bundled lead-enrichment leads",
        )
    # Below promptevolve.compose (a layer up): the two services it needs, wired as compose wires them.
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
