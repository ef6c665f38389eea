"""Evolution as a service: load the parent and the data, search, register the winner, record the run.

``EvolutionService.evolve(EvolveRequest)``:

1. resolves the parent (a version, or the serving variant), the dataset (built from production feedback
   first with ``from_feedback``), the evaluator (the request's, else the dataset's, else ``exact``) and
   the items for the prompt's locale when the dataset mixes locales; the evaluator's options come from
   the request (``evaluator_options``, e.g. ``labels`` for a classification); the strategies are the
   request's, else chosen by the task (``default_strategies``: ``labels``, ``few_shot``, ``retrieval``
   when the evaluator declares labels, else the general list);
2. checks everything that can be checked before spending: strategies exist, splits are not empty, the
   budget (optimization calls) covers validation, a ``test_budget`` covers the test stage. A refused run
   raises a ``PromptevolveError`` and writes nothing;
3. runs the search (``search.run_search``) with the evaluated model (the variant's provider) and the
   proposal model (``proposer``, the same provider by default);
4. registers the winner as an **inactive** ``evolved`` variant whose parent is the evolved version, with
   the strategy, rationale and, in ``meta``, the evidence: scores on train, validation and test (the
   lineage tree shows ``meta["test_score"]``), the trivial baselines, the gate's verdict and interval,
   optimization and test calls, the dataset, seed and evaluator, and the prompt's parts (so a later run
   can keep editing them);
5. writes one ``evolutions`` row per **candidate** scored in the run, in one transaction: the winner
   with its variant and the gate's verdict (``passed``, ``format_only``, ``rejected``, ``untested``),
   every other candidate ``not_selected`` with its scores, template and settings in ``evidence`` (so a
   candidate that lost can still be read and registered by hand);
6. with ``auto_ab``, and only when the gate passed, starts an A/B test of the parent against the winner
   with ``ExperimentService.create_and_start`` (as the autopilot does); if the start is refused (another
   experiment is live), the draft is stopped, the report says why and the evolution stands. The
   experiments service shares the registry (``promptevolve.compose``), whose ``on_change`` (the
   server's SDK cache) hears the new routing, so a started test is served from the next call.

``evaluate`` scores one variant on a split with a bootstrap interval, beside the trivial baselines
(``promptevolve eval``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from promptevolve.core.errors import PromptevolveError, ValidationError
from promptevolve.core.ids import new_id
from promptevolve.core.protocols import Provider
from promptevolve.core.types import ModelSettings, VariantKind
from promptevolve.evolution.baselines import Baseline, constant_baseline, label_space
from promptevolve.evolution.budget import Budget, BudgetMeter, Spend
from promptevolve.evolution.candidates import Candidate, ItemResult, mean
from promptevolve.evolution.datasets import (
    SPLITS,
    Example,
    build_from_production,
    get_dataset,
    load_examples,
)
from promptevolve.evolution.gate import Interval, bootstrap_mean
from promptevolve.evolution.parts import parts_from_meta, parts_to_meta
from promptevolve.evolution.runner import CandidateRunner
from promptevolve.evolution.runs import CandidateRecord, record_run
from promptevolve.evolution.search import Progress, SearchConfig, SearchData, SearchResult, run_search
from promptevolve.evolution.strategies import create_strategy, default_strategies
from promptevolve.experiments import ExperimentCreate, ExperimentService
from promptevolve.providers.registry import create_provider
from promptevolve.registry import Registry, VariantCreate, VariantInfo
from promptevolve.scoring.evaluators import Evaluator, create_evaluator
from promptevolve.store.engine import Store

__all__ = ["EvalReport", "EvolutionReport", "EvolutionService", "EvolveRequest"]


class EvolveRequest(BaseModel):
    """What to evolve, on which data, with which budget (the CLI and API build one)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    dataset: str
    budget: int = Field(ge=1, description="Optimization calls: proposals, train and validation evaluations")
    max_tokens: int | None = Field(default=None, ge=1, description="Token budget (prompt + completion)")
    version: str | None = Field(default=None, description="Parent version; default: the serving variant")
    strategies: list[str] | None = Field(
        default=None,
        description="Strategies in the order tried; default: labels, few_shot, retrieval when the evaluator "
        "declares labels (a classification), else the general list (DEFAULT_STRATEGIES)",
    )
    seed: int = 0
    evaluator: str | None = Field(default=None, description="Default: the dataset's evaluator, else exact")
    evaluator_options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword options of the evaluator, e.g. {'labels': ['0', '1']}"
    )
    locale: str | None = Field(default=None, description="Items of this locale; default: the prompt's")
    from_feedback: bool = Field(default=False, description="(Re)build the dataset from production first")
    minibatch: int = Field(default=6, ge=1)
    children: int = Field(default=2, ge=1, le=8)
    finalists: int = Field(default=2, ge=1, le=8)
    max_generations: int = Field(default=60, ge=1)
    length_penalty: float = Field(default=0.01, ge=0.0)
    max_prompt_chars: int | None = Field(default=None, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    proposer: str | None = Field(default=None, description="Provider that writes candidates; default: same")
    auto_ab: bool = False
    max_items: int | None = Field(default=None, ge=2, description="Use at most this many items per split")
    test_items: int | None = Field(
        default=None, ge=2, description="The gate uses a seeded sample of this many test items; default all"
    )
    test_budget: int | None = Field(
        default=None, ge=1, description="Calls the gate's test stage may spend; default what it needs"
    )


@dataclass(frozen=True, slots=True)
class EvolutionReport:
    run_id: str
    parent: VariantInfo
    dataset: str
    evaluator: str
    result: SearchResult
    child: VariantInfo | None
    status: str  # passed | format_only | rejected | untested | no_candidate
    experiment_id: int | None
    auto_ab_note: str | None
    budget_calls: int = 0

    @property
    def spend(self) -> Spend:
        """Every call of the run: optimization and test (what a calls ledger must charge)."""
        return self.result.total_spend

    @property
    def optimization_spend(self) -> Spend:
        """What ``budget_calls`` counts: proposals, train and validation."""
        return self.result.spend

    @property
    def test_spend(self) -> Spend:
        return self.result.test.spend


@dataclass(frozen=True, slots=True)
class EvalReport:
    variant: VariantInfo
    dataset: str
    split: str
    evaluator: str
    score: Interval | None
    fields: Mapping[str, float]
    unparsable: int
    errors: int
    results: tuple[ItemResult, ...]
    spend: Spend
    wall_seconds: float
    complete: bool
    examples: tuple[Example, ...] = ()
    baselines: tuple[Baseline, ...] = ()
    labels: tuple[str, ...] | None = None


class EvolutionService:
    """``providers`` maps provider names to ready instances (tests pass a ``ScriptedProvider``)."""

    def __init__(
        self,
        store: Store,
        *,
        registry: Registry,
        experiments: ExperimentService,
        providers: Mapping[str, Provider] | None = None,
        default_provider: str = "local",
        actor: str | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.actor = actor
        self.experiments = experiments
        self._providers = dict(providers or {})
        self._default_provider = default_provider

    # --- evolve ----------------------------------------------------------------------------------

    def evolve(
        self, request: EvolveRequest, *, on_progress: Callable[[Progress], None] | None = None
    ) -> EvolutionReport:
        parent = self.registry.get_variant(request.prompt, request.version)
        if request.strategies is not None:
            strategies = tuple(create_strategy(name) for name in dict.fromkeys(request.strategies))
            if not strategies:
                raise ValidationError("give at least one strategy")
        if request.from_feedback:
            build_from_production(
                self.store, request.dataset, prompt=request.prompt, seed=request.seed, replace=True
            )
        evaluator_name, evaluator = self._evaluator(
            request.dataset, request.evaluator, request.evaluator_options
        )
        if request.strategies is None:  # chosen by the task: a declared label set is a classification
            names = default_strategies(evaluator.labels)
            strategies = tuple(create_strategy(name) for name in names)
            request = request.model_copy(update={"strategies": list(names)})
        data = self._data(request, parent)
        provider = self._provider(parent.settings.provider)
        proposer = self._provider(request.proposer) if request.proposer else provider
        config = SearchConfig(
            strategies=strategies,
            budget=Budget(max_calls=request.budget, max_tokens=request.max_tokens),
            seed=request.seed,
            minibatch=request.minibatch,
            children=request.children,
            max_generations=request.max_generations,
            finalists=request.finalists,
            length_penalty=request.length_penalty,
            max_prompt_chars=request.max_prompt_chars,
            confidence=request.confidence,
            test_items=request.test_items,
            test_budget=request.test_budget,
        )
        result = run_search(
            parent=_candidate(parent),
            data=data,
            config=config,
            evaluator=evaluator,
            provider=provider,
            proposer_provider=proposer,
            on_progress=on_progress,
        )
        return self._record(request, parent, evaluator_name, result)

    def _record(
        self, request: EvolveRequest, parent: VariantInfo, evaluator: str, result: SearchResult
    ) -> EvolutionReport:
        run_id = new_id()
        child: VariantInfo | None = None
        status = "no_candidate"
        if result.winner is not None:
            status = result.verdict if result.verdict != "no_candidate" else "untested"
            meta = _meta(request, evaluator, result, run_id, status)
            child = self.registry.register(
                VariantCreate(
                    prompt=parent.prompt,
                    template=result.winner.template,
                    settings=result.winner.settings,
                    kind=VariantKind.EVOLVED,
                    parent=parent.version,
                    strategy=result.winner.strategy,
                    rationale=result.winner.rationale,
                    author=self.actor or "promptevolve evolve",
                    meta=meta,
                ),
            ).variant
        self._write_rows(run_id, parent, child, result, status, request, evaluator)
        experiment_id, note = self._auto_ab(request, parent, child, status, run_id)
        return EvolutionReport(
            run_id,
            parent,
            request.dataset,
            evaluator,
            result,
            child,
            status,
            experiment_id,
            note,
            budget_calls=request.budget,
        )

    def _write_rows(
        self,
        run_id: str,
        parent: VariantInfo,
        child: VariantInfo | None,
        result: SearchResult,
        status: str,
        request: EvolveRequest,
        evaluator: str,
    ) -> None:
        summary = _run_summary(request, evaluator, result)
        finalists = {f.candidate.key for f in result.finalists}
        records = []
        for scored in result.candidates:
            candidate = scored.candidate
            is_winner = result.winner is not None and candidate.key == result.winner.key
            verdict = result.test.parent_gate if is_winner else None
            records.append(
                CandidateRecord(
                    child_variant_id=child.id if is_winner and child is not None else None,
                    strategy=candidate.strategy,
                    evidence={
                        "rationale": candidate.rationale,
                        "candidate_key": candidate.key,
                        "finalist": candidate.key in finalists,
                        "rung": scored.rung,
                        "train_score": scored.train_score,
                        "train_items": scored.train_items,
                        "train_penalised": scored.penalised,
                        "validation_score": scored.validation_score,
                        "validation_penalised": scored.validation_penalised,
                        "validation_items": scored.validation_items,
                        "parent_validation_score": result.parent_validation,
                        "parent_validation_items": result.parent_validation_items,
                        "template_chars": candidate.chars,
                        "template": candidate.template,
                        "settings": _stored_settings(candidate.settings),
                        "run": summary,
                    },
                    parent_score=verdict.parent.mean if verdict else result.parent_validation,
                    parent_ci_low=verdict.parent.low if verdict else None,
                    parent_ci_high=verdict.parent.high if verdict else None,
                    child_score=verdict.child.mean if verdict else scored.validation_score,
                    child_ci_low=verdict.child.low if verdict else None,
                    child_ci_high=verdict.child.high if verdict else None,
                    improvement=verdict.improvement.mean if verdict else None,
                    improvement_ci_low=verdict.improvement.low if verdict else None,
                    improvement_ci_high=verdict.improvement.high if verdict else None,
                    status=status if is_winner else "not_selected",
                )
            )
        record_run(
            self.store,
            run_id=run_id,
            parent_variant_id=parent.id,
            calls_spent=result.spend.calls,
            tokens_spent=result.spend.tokens,
            candidates=records,
        )

    def _auto_ab(
        self, request: EvolveRequest, parent: VariantInfo, child: VariantInfo | None, status: str, run_id: str
    ) -> tuple[int | None, str | None]:
        if not request.auto_ab:
            return None, None
        if child is None or status != "passed":
            why = (
                "it repairs the format only"
                if status == "format_only"
                else "it did not pass the held-out gate"
            )
            return None, f"no A/B test: {why}"
        plan = ExperimentCreate(
            prompt=parent.prompt,
            control=parent.version,
            treatments=[child.version],
            name=f"evolution {run_id[:12]}: {parent.version} vs {child.version}",
        )
        try:
            started = self.experiments.create_and_start(plan, actor=self.actor)
        except PromptevolveError as exc:
            return None, f"A/B test not started: {exc}"
        return started.id, f"A/B test {started.id} started ({parent.version} vs {child.version})"

    # --- evaluate --------------------------------------------------------------------------------

    def evaluate(
        self,
        prompt: str,
        version: str | None,
        *,
        dataset: str,
        split: str = "test",
        evaluator: str | None = None,
        evaluator_options: Mapping[str, Any] | None = None,
        budget: int | None = None,
        seed: int = 0,
        max_items: int | None = None,
        constrained: bool = True,
        on_call: Callable[[str], None] | None = None,
    ) -> EvalReport:
        """Score one variant on a split of a dataset, with a bootstrap interval of the mean.

        Beside it, the trivial baselines on the same items: the best constant answer (chosen on the
        train split, no model call) and, when the evaluator declares labels and ``constrained`` is true,
        the variant with the ``choices`` setting (one more call per item, counted in ``spend``).
        """
        if split not in SPLITS:
            raise ValidationError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        variant = self.registry.get_variant(prompt, version)
        evaluator_name, judge = self._evaluator(dataset, evaluator, evaluator_options)
        locale = self._locale(dataset, variant.prompt, None)
        examples = load_examples(self.store, dataset, split=split, locale=locale)[:max_items]
        if not examples:
            raise ValidationError(
                f"dataset {dataset!r} has no {split} items{f' for locale {locale}' if locale else ''}"
            )
        candidate = _candidate(variant)
        train = load_examples(self.store, dataset, split="train", locale=locale)
        labels = label_space(train or examples, judge)
        choices = list(judge.labels) if judge.labels and constrained else None
        if choices is not None and "choices" in variant.settings.extra_params():
            choices = None
        arms = 1 + (choices is not None)
        meter = BudgetMeter(Budget(max_calls=budget or arms * len(examples)))
        runner = CandidateRunner(
            provider=self._provider(variant.settings.provider), evaluator=judge, meter=meter, on_call=on_call
        )
        started = time.perf_counter()
        outcome = runner.run(candidate, examples, purpose="test")
        results = outcome.results
        baselines = [b for b in (constant_baseline(train, examples, judge),) if b is not None]
        if choices is not None and outcome.complete:
            bounded = replace(candidate, settings=candidate.settings.model_copy(update={"choices": choices}))
            constrained_outcome = runner.run(bounded, examples, purpose="test")
            if constrained_outcome.complete:
                baselines.append(
                    Baseline(
                        "variant constrained to the labels",
                        f"the variant with choices [{', '.join(choices)}]",
                        constrained_outcome.results,
                    )
                )
        interval = (
            bootstrap_mean([r.score for r in results], rng=np.random.default_rng(seed)) if results else None
        )
        names = sorted({k for r in results for k in r.fields})
        fields = {k: mean([r.fields.get(k, 0.0) for r in results]) for k in names}
        return EvalReport(
            variant=variant,
            dataset=dataset,
            split=split,
            evaluator=evaluator_name,
            score=interval,
            fields=fields,
            unparsable=sum(not r.parsed for r in results),
            errors=sum(r.error is not None for r in results),
            results=results,
            spend=meter.spend(),
            wall_seconds=time.perf_counter() - started,
            complete=outcome.complete,
            examples=tuple(examples[: len(results)]),
            baselines=tuple(baselines),
            labels=labels,
        )

    # --- helpers ---------------------------------------------------------------------------------

    def _provider(self, name: str | None) -> Provider:
        key = name or self._default_provider
        if key not in self._providers:
            self._providers[key] = create_provider(key)
        return self._providers[key]

    def _evaluator(
        self, dataset: str, name: str | None, given: Mapping[str, Any] | None = None
    ) -> tuple[str, Evaluator]:
        chosen = name or get_dataset(self.store, dataset).evaluator or "exact"
        options: dict[str, Any] = dict(given or {})
        if chosen == "judge" and "provider" not in options:
            options["provider"] = self._provider(None)
        return chosen, create_evaluator(chosen, **options)

    def _locale(self, dataset: str, prompt: str, requested: str | None) -> str | None:
        if requested is not None:
            return requested
        info = get_dataset(self.store, dataset)
        if len(info.locales) < 2:
            return None
        locale = self.registry.get_prompt(prompt).locale
        return locale if locale in info.locales else None

    def _data(self, request: EvolveRequest, parent: VariantInfo) -> SearchData:
        locale = self._locale(request.dataset, request.prompt, request.locale)
        splits: dict[str, tuple[Example, ...]] = {
            split: load_examples(self.store, request.dataset, split=split, locale=locale)[: request.max_items]
            for split in SPLITS
        }
        for split in ("train", "test"):
            if not splits[split]:
                raise ValidationError(
                    f"dataset {request.dataset!r} has no {split} items"
                    + (f" for locale {locale!r}" if locale else "")
                    + ": import more items or change the split fractions"
                )
        summary = self.registry.get_prompt(request.prompt)
        task = summary.description or f"the task of prompt {request.prompt}"
        return SearchData(splits["train"], splits["validation"], splits["test"], task)


def _candidate(variant: VariantInfo) -> Candidate:
    return Candidate(
        parts=parts_from_meta(variant.meta, variant.template),
        settings=variant.settings,
        strategy=variant.strategy or variant.kind.value,
        rationale=variant.rationale or "",
    )


def _run_summary(request: EvolveRequest, evaluator: str, result: SearchResult) -> dict[str, Any]:
    spend, test = result.spend, result.test
    return {
        "dataset": request.dataset,
        "evaluator": evaluator,
        "evaluator_options": dict(request.evaluator_options),
        "labels": list(result.labels) if result.labels else None,
        "seed": request.seed,
        "strategies": list(request.strategies or ()),
        "budget_calls": request.budget,
        "budget_tokens": request.max_tokens,
        "calls": spend.calls,
        "tokens": spend.tokens,
        "proposal_calls": spend.proposal_calls,
        "evaluation_calls": spend.evaluation_calls,
        "train_calls": spend.train_calls,
        "validation_calls": spend.validation_calls,
        "test_calls": test.spend.calls,
        "test_tokens": test.spend.tokens,
        "test_items": len(test.examples),
        "verdict": test.verdict,
        "reference": test.reference,
        "baselines": [
            {"name": b.name, "detail": b.detail, "test_score": round(b.mean, 4)} for b in test.baselines
        ],
        "failed_calls": spend.failed_calls + test.spend.failed_calls,
        "candidates": len(result.candidates),
        "unusable_proposals": len(result.unusable),
        "invalid_candidates": len(result.invalid),
        "generations": result.generations,
        "stopped": result.stopped,
        "wall_seconds": round(result.wall_seconds, 2),
    }


def _meta(
    request: EvolveRequest, evaluator: str, result: SearchResult, run_id: str, status: str
) -> dict[str, Any]:
    assert result.winner is not None
    finalist = next((f for f in result.finalists if f.candidate.key == result.winner.key), None)
    verdict = result.gate
    meta: dict[str, Any] = {
        "evolution_run": run_id,
        "gate": status,
        "train_score": finalist.train_score if finalist else None,
        "validation_score": finalist.validation_score if finalist else None,
        "parent_validation_score": result.parent_validation,
        "calls_spent": result.spend.calls,
        "tokens_spent": result.spend.tokens,
        "test_calls": result.test.spend.calls,
        "run": _run_summary(request, evaluator, result),
        "parts": parts_to_meta(result.winner.parts),
    }
    over_parent = result.test.parent_gate
    if verdict is not None and over_parent is not None:
        meta |= {
            "test_score": round(verdict.child.mean, 4),
            "parent_test_score": round(over_parent.parent.mean, 4),
            "improvement": round(over_parent.improvement.mean, 4),
            "improvement_ci": [round(over_parent.improvement.low, 4), round(over_parent.improvement.high, 4)],
            "reference": result.test.reference,
            "reference_test_score": round(verdict.parent.mean, 4),
            "improvement_over_reference": round(verdict.improvement.mean, 4),
            "improvement_over_reference_ci": [
                round(verdict.improvement.low, 4),
                round(verdict.improvement.high, 4),
            ],
            "confidence": verdict.confidence,
            "test_items": verdict.improvement.n,
            "gate_reason": verdict.reason,
        }
    return meta


def _stored_settings(settings: ModelSettings) -> dict[str, Any]:
    """Settings as stored on a candidate's row: a retrieval pool is kept by its item keys only."""
    dumped = settings.model_dump(mode="json")
    retrieval = dumped.get("retrieval")
    if isinstance(retrieval, dict) and isinstance(retrieval.get("pool"), list):
        keys = [d.get("key") for d in retrieval["pool"] if isinstance(d, dict)]
        dumped["retrieval"] = {**retrieval, "pool": {"items": len(keys), "keys": keys}}
    return dumped
