"""Evolution: proposing new prompt variants and proving them on held-out data before they may serve.

- ``datasets``: JSONL import with predefined or seeded, locale-stratified splits; production feedback;
- ``parts``: prompts as editable parts (instruction, demos, query, cue), rendered back to templates;
- ``strategies``: few-shot (class-balanced), labels, role, context, OPRO rewrite, critique of failures,
  crossover (one a module);
- ``budget``: optimization calls and tokens reserved before each call, never exceeded;
- ``runner``: candidates on items (cached per run), the proposal model;
- ``search``: generations with Pareto parent selection, successive halving on train (demo orders and
  subsets compete there, ``demo_search``), validation, test;
- ``baselines``: the trivial baselines a candidate must beat (best constant answer, majority class);
- ``gate``: paired bootstrap interval of the improvement on the test split;
- ``items``: per-item result rows (``--items-out``);
- ``service``: ``EvolutionService`` (evolve, evaluate) records variants and ``evolutions`` rows;
"""

from promptevolve.evolution.budget import Budget, BudgetMeter, Spend, estimate_tokens
from promptevolve.evolution.candidates import Candidate, ItemResult, Unusable
from promptevolve.evolution.datasets import (
    DEFAULT_FRACTIONS,
    SPLITS,
    DatasetInfo,
    Example,
    ItemIn,
    ProductionReport,
    build_from_production,
    get_dataset,
    import_items,
    import_jsonl,
    list_datasets,
    load_examples,
    read_jsonl,
    split_keys,
)
from promptevolve.evolution.gate import GateResult, Interval, bootstrap_mean, gate
from promptevolve.evolution.parts import Demo, PromptParts, check_candidate, parts_from_template
from promptevolve.evolution.search import (
    Progress,
    ScoredCandidate,
    SearchConfig,
    SearchData,
    SearchResult,
    run_search,
)
from promptevolve.evolution.service import EvalReport, EvolutionReport, EvolutionService, EvolveRequest
from promptevolve.evolution.strategies import (
    CLASSIFICATION_STRATEGIES,
    DEFAULT_STRATEGIES,
    Evidence,
    Proposals,
    Strategy,
    available_strategies,
    create_strategy,
    default_strategies,
)

__all__ = [
    "CLASSIFICATION_STRATEGIES",
    "DEFAULT_FRACTIONS",
    "DEFAULT_STRATEGIES",
    "SPLITS",
    "Budget",
    "BudgetMeter",
    "Candidate",
    "DatasetInfo",
    "Demo",
    "EvalReport",
    "Evidence",
    "EvolutionReport",
    "EvolutionService",
    "EvolveRequest",
    "Example",
    "GateResult",
    "Interval",
    "ItemIn",
    "ItemResult",
    "ProductionReport",
    "Progress",
    "PromptParts",
    "Proposals",
    "ScoredCandidate",
    "SearchConfig",
    "SearchData",
    "SearchResult",
    "Spend",
    "Strategy",
    "Unusable",
    "available_strategies",
    "bootstrap_mean",
    "build_from_production",
    "check_candidate",
    "create_strategy",
    "default_strategies",
    "estimate_tokens",
    "gate",
    "get_dataset",
    "import_items",
    "import_jsonl",
    "list_datasets",
    "load_examples",
    "parts_from_template",
    "read_jsonl",
    "run_search",
    "split_keys",
]
