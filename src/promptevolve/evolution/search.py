"""The search: propose, score on train minibatches, spend on the promising, validate, test, gate.

One run, step by step (``run_search``):

1. **Plan the budget.** The budget counts **optimization calls**: proposals, train and validation. The
   validation stage is priced first (the parent and ``finalists`` candidates on the validation split);
   if the budget cannot pay for it plus one minibatch, the run is refused before any call
   (``BudgetExceededError``, naming the ``--budget`` or ``--max-items`` that would fit). That amount is
   set aside; the search spends the rest. Every call reserves its tokens first (``budget``), so neither
   limit is ever passed. The gate's test stage is counted apart (``test_spend``), optionally capped
   (``test_budget``) or run on a seeded sample of the test split (``test_items``).
2. **Generations.** Each generation picks a parent from the pool by **Pareto selection** across train
   items (as GEPA: a candidate that is best on some item stays eligible even if its mean is lower;
   drawn with weights = items won), asks the next strategy in turn for ``children`` candidates (built
   from evidence: the parent's scored answers with the evaluator's explanations, demos, the run's
   history), checks each (variables intact, renders, length limit) and scores it on the first rung.
3. **Successive halving** (asynchronous, as ASHA): rung ``r`` is the first ``minibatch × 2^r`` items of
   the seeded train order (the last rung is the whole train split). After each generation, a candidate
   that ranks in the top half of all candidates that reached its rung is promoted to the next rung.
   Every candidate is compared on the same items, so comparisons are paired and cached calls reused.
   ``max_train_rung`` caps the last rung: promotion then stops before the whole train split.
   **Demonstration sets compete on the rungs**: when a candidate with demonstrations survives its first
   halving, ``demo_search`` adds siblings that differ only by the order of its demos or by one demo
   swapped (Lu et al. 2022: the order alone moves few-shot accuracy by tens of points); they start on
   the first rung and the halving keeps the best order and subset.
4. **Ranking** uses the mean score minus a **length penalty** (``length_penalty`` per 1,000 characters
   beyond the parent's); candidates over ``max_prompt_chars`` are refused at the check.
5. **Validation on successive-halving rungs** (``validation_rungs``, 3 by default): the best
   ``finalists`` (highest rung, then score) and the parent answer the first quarter of the validation
   split, then the next quarter, then the rest (a rung is never under 20 items: a small split is one
   rung). After each rung, a contender whose paired difference to the best contender on the same items
   is clearly below zero (the normal 95 % upper bound of the mean difference under zero) stops, and at
   most half of the remaining finalists (rounded up) go on, the best first. The parent is only ever
   stopped by the interval rule. So a clearly worse prompt costs a quarter of the split, not all of it;
   the set-aside is the worst case of this schedule (the parent on every item, the finalists halved),
   which with 2 finalists is 75 % of validating all three on every item, and the calls it frees go to
   the search. The best finalist still in at the end must beat the parent on the items the parent
   answered (its length-penalised mean against the parent's mean; the report shows both raw means and
   the item counts), else there is no winner.
6. **Test and gate**: the parent and the winner answer the test split, beside the **trivial
   baselines** (``baselines``: the best constant answer, free; the parent constrained to the label set
   with the ``choices`` setting, when the evaluator knows the labels). The gate compares the winner with
   the **stronger** of the parent and the baselines (paired bootstrap interval of the per-item
   difference; passing means its lower bound is above zero). A winner that beats its parent but not a
   trivial baseline is ``format_only``: it repaired the answers' format, it did not learn the task.

Randomness comes from ``random.Random(seed)`` (order, selection, proposals' seeds) and
``numpy.random.default_rng(seed)`` (bootstrap): with a deterministic model, the same seed gives the same
run. The search writes nothing; ``service`` records the outcome.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from promptevolve.core.errors import BudgetExceededError, ValidationError
from promptevolve.core.protocols import Provider
from promptevolve.core.types import ModelSettings
from promptevolve.evolution.baselines import Baseline, constant_baseline, label_space
from promptevolve.evolution.budget import Budget, BudgetMeter, Spend, estimate_tokens
from promptevolve.evolution.candidates import Candidate, ItemResult, Unusable, mean
from promptevolve.evolution.datasets import Example
from promptevolve.evolution.demo_search import demo_siblings
from promptevolve.evolution.gate import GateResult, gate
from promptevolve.evolution.parts import Demo, check_candidate
from promptevolve.evolution.runner import CandidateRunner, Proposer
from promptevolve.evolution.strategies.base import Evidence, ScoredExample, Strategy
from promptevolve.scoring.evaluators import Evaluator
from promptevolve.scoring.evaluators.minilm import MiniLMEncoder
from promptevolve.templates import DemoRetriever, parse_template, render

__all__ = [
    "Progress",
    "ScoredCandidate",
    "SearchConfig",
    "SearchData",
    "SearchResult",
    "TestStage",
    "run_search",
]


@dataclass(frozen=True, slots=True)
class SearchConfig:
    strategies: tuple[Strategy, ...]
    budget: Budget
    seed: int = 0
    minibatch: int = 6
    children: int = 2
    max_generations: int = 60
    finalists: int = 2
    length_penalty: float = 0.01
    max_prompt_chars: int | None = None
    confidence: float = 0.95
    resamples: int = 2000
    #: Test items the gate uses: a seeded sample of the test split (None: all of it).
    test_items: int | None = None
    #: Calls the test stage may spend (None: what it needs); checked before the run starts.
    test_budget: int | None = None
    #: Siblings (other demo orders and subsets) added when a candidate with demos survives a halving.
    demo_variants: int = 2
    #: Successive-halving rungs of the validation split (1: every finalist answers all of it).
    validation_rungs: int = 3
    #: The largest train rung (None: the whole train split). Promotion stops there, so a large train
    #: split is not spent on confirming the leaders while the rest of the pool waits on the first rung.
    max_train_rung: int | None = None


@dataclass(frozen=True, slots=True)
class SearchData:
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    task: str


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a run is. ``calls`` / ``max_calls`` count the optimization calls against the budget during
    search and validation, and the test calls against the test stage's plan during test and done."""

    stage: str  # search | validation | test | done
    calls: int
    max_calls: int
    candidates: int
    best: float | None
    message: str


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    candidate: Candidate
    train_score: float
    train_items: int
    rung: int
    penalised: float
    validation_score: float | None = None  # raw mean, the same basis as the parent's
    validation_penalised: float | None = None  # what chose the winner
    validation_items: int = 0  # how many validation items it answered (fewer when it stopped early)


@dataclass(frozen=True, slots=True)
class TestStage:
    """The gate's test stage: who answered which items, the baselines, and the verdicts.

    ``gate`` compares the winner with ``reference`` (the stronger of the parent and the baselines);
    ``parent_gate`` with the parent alone. ``verdict``: ``passed`` | ``format_only`` | ``rejected`` |
    ``untested`` (the stage could not finish) | ``no_candidate``.
    """

    examples: tuple[Example, ...] = ()
    parent: tuple[ItemResult, ...] = ()
    winner: tuple[ItemResult, ...] = ()
    baselines: tuple[Baseline, ...] = ()
    gate: GateResult | None = None
    parent_gate: GateResult | None = None
    reference: str = "parent"
    verdict: str = "no_candidate"
    spend: Spend = field(default_factory=lambda: Spend(0, 0, 0, 0, 0, 0))
    planned_calls: int = 0


@dataclass(frozen=True, slots=True)
class SearchResult:
    parent: Candidate
    winner: Candidate | None
    gate: GateResult | None  # against the stronger of parent and trivial baselines (``test.reference``)
    candidates: tuple[ScoredCandidate, ...]
    finalists: tuple[ScoredCandidate, ...]
    unusable: tuple[Unusable, ...]
    invalid: tuple[Unusable, ...]
    parent_validation: float | None
    parent_test: tuple[ItemResult, ...]
    winner_test: tuple[ItemResult, ...]
    spend: Spend  # optimization calls: proposals, train, validation (what the budget counts)
    planned_final_calls: int  # validation calls set aside before the search
    generations: int
    wall_seconds: float
    stopped: str
    replies: tuple[str, ...] = field(default=())
    test: TestStage = field(default_factory=TestStage)
    labels: tuple[str, ...] | None = None
    parent_validation_items: int = 0  # validation items the parent answered (fewer if it stopped early)

    @property
    def verdict(self) -> str:
        return self.test.verdict

    @property
    def total_spend(self) -> Spend:
        """Optimization and test calls together (what the provider was asked for)."""
        return self.spend + self.test.spend


@dataclass
class _Entry:
    """A candidate of the pool and its results on train items (mutable only inside one run)."""

    candidate: Candidate
    results: dict[str, ItemResult]
    rung: int = -1
    promoted: bool = False


def _rungs(n_train: int, minibatch: int, cap: int | None = None) -> list[int]:
    """Cumulative train items per rung: the minibatch doubled up to the split (or ``cap``, at least one
    minibatch), the last rung being exactly that limit."""
    top = n_train if cap is None else max(min(cap, n_train), min(minibatch, n_train), 1)
    sizes, size = [], max(1, min(minibatch, top))
    while size < top:
        sizes.append(size)
        size *= 2
    return [*sizes, top]


def _penalised(score: float, candidate: Candidate, parent: Candidate, penalty: float) -> float:
    return score - penalty * max(0, candidate.chars - parent.chars) / 1000.0


#: The smallest validation rung: under it a rung's mean says too little to stop anyone on.
MIN_VALIDATION_RUNG = 20


def _validation_rungs(n: int, rungs: int) -> list[int]:
    """Cumulative sizes of the validation rungs: ``n`` halved ``rungs - 1`` times, none under the minimum."""
    sizes = [n]
    while len(sizes) < rungs and math.ceil(sizes[0] / 2) >= MIN_VALIDATION_RUNG:
        sizes.insert(0, math.ceil(sizes[0] / 2))
    return sizes


def _validation_caps(finalists: int, rungs: int) -> list[int]:
    """How many finalists may answer each rung: all on the first, then half (rounded up) each time."""
    caps = [finalists]
    while len(caps) < rungs:
        caps.append(max(1, math.ceil(caps[-1] / 2)))
    return caps


def _validation_calls(n: int, finalists: int, rungs: int) -> int:
    """The most calls the staged validation can make: the parent on all ``n`` items, finalists halved."""
    sizes = _validation_rungs(n, rungs)
    calls, previous = n, 0
    for size, cap in zip(sizes, _validation_caps(finalists, len(sizes)), strict=True):
        calls += cap * (size - previous)
        previous = size
    return calls


def _final_plan(parent: Candidate, data: SearchData, config: SearchConfig) -> tuple[int, int]:
    """(calls, tokens) the validation stage may need at most, to set aside before the search."""
    calls = _validation_calls(len(data.validation), config.finalists, config.validation_rungs)
    parsed = parse_template(parent.template)
    per_call = max(
        (estimate_tokens(render(parsed, e.inputs).prompt, parent.settings) for e in data.validation),
        default=0,
    )
    return calls, int(calls * per_call * 1.5)


def _check_budget(
    budget: Budget, calls: int, tokens: int, minibatch: int, config: SearchConfig, n_validation: int
) -> None:
    if budget.max_calls < calls + minibatch:
        plan = partial(_validation_calls, finalists=config.finalists, rungs=config.validation_rungs)
        fits = max((m for m in range(2, n_validation) if plan(m) + minibatch <= budget.max_calls), default=0)
        other = (
            f", or use at most {fits} items per split (--max-items {fits}: validation then needs "
            f"{plan(fits)} calls)"
            if fits >= 2
            else ""
        )
        raise BudgetExceededError(
            f"a budget of {budget.max_calls} optimization calls cannot pay for this run: validation needs "
            f"up to {calls} calls (the parent and {config.finalists} finalists on {n_validation} items) "
            f"and the search at least {minibatch} more; raise the budget to at least {calls + minibatch} "
            f"(--budget {calls + minibatch}){other}"
        )
    if budget.max_tokens is not None and budget.max_tokens < tokens:
        raise BudgetExceededError(
            f"a budget of {budget.max_tokens} tokens cannot pay for this run: validation may need up to "
            f"{tokens} tokens; raise the token budget to at least {tokens} (--max-tokens {tokens}) or use "
            "fewer items (--max-items)"
        )


CONSTRAINED = "parent constrained to the labels"


def _test_arms(parent: Candidate, labels: tuple[str, ...] | None) -> int:
    return 3 if _constrained(parent, labels) is not None else 2


def _constrained(parent: Candidate, labels: tuple[str, ...] | None) -> Candidate | None:
    """The parent with the ``choices`` setting (a trivial baseline), when the labels are known."""
    if labels is None or "choices" in parent.settings.extra_params():
        return None
    settings = parent.settings.model_copy(update={"choices": list(labels)})
    return replace(parent, settings=settings, strategy="baseline", rationale="parent constrained to labels")


def _check_test_budget(config: SearchConfig, n_test: int, arms: int) -> None:
    if config.test_budget is None or config.test_budget >= n_test * arms:
        return
    fits = config.test_budget // arms
    raise BudgetExceededError(
        f"a test budget of {config.test_budget} calls cannot pay for the gate: {arms} prompts answer "
        f"{n_test} test items ({arms * n_test} calls); sample at most {fits} test items (--test-items {fits})"
        if fits >= 2
        else f"a test budget of {config.test_budget} calls cannot pay for the gate: it needs at least "
        f"{2 * arms} calls ({arms} prompts × 2 test items)"
    )


class _Run:
    """The state of one search run; built and discarded by ``run_search``."""

    def __init__(
        self,
        parent: Candidate,
        data: SearchData,
        config: SearchConfig,
        evaluator: Evaluator,
        provider: Provider,
        proposer_provider: Provider,
        proposer_settings: ModelSettings | None,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        if not data.train or not data.test:
            raise ValidationError("the dataset needs train and test items for this prompt")
        self.parent, self.data, self.config, self.evaluator = parent, data, config, evaluator
        self.rng = random.Random(config.seed)
        self.meter = BudgetMeter(config.budget)
        # One retriever for the run: a MiniLM encoder loads its weights once, and pools index once.
        self.retriever = DemoRetriever(encoder=MiniLMEncoder)
        self.runner = CandidateRunner(
            provider=provider,
            evaluator=evaluator,
            meter=self.meter,
            on_call=self._tick,
            retriever=self.retriever,
        )
        self.proposer = Proposer(
            provider=proposer_provider,
            meter=self.meter,
            settings=proposer_settings,
            on_call=self._tick,
            task=self.runner,
        )
        self.on_progress = on_progress
        self.test_meter: BudgetMeter | None = None
        self.train = list(data.train)
        self.rng.shuffle(self.train)
        self.rungs = _rungs(len(self.train), config.minibatch, config.max_train_rung)
        self.max_chars = config.max_prompt_chars or max(3 * parent.chars, 6000)
        self.labels = label_space(self.train, evaluator)
        self.pool: dict[str, _Entry] = {}
        self.unusable: list[Unusable] = []
        self.invalid: list[Unusable] = []
        self.stage = "search"
        self.spawned: set[str] = set()

    # --- progress ---------------------------------------------------------------------------------

    def _tick(self, _purpose: str) -> None:
        self.report("")

    def report(self, message: str) -> None:
        if self.on_progress is None:
            return
        best = max((self.score(e) for e in self.pool.values() if e.results), default=None)
        spent = self.meter.spend()
        calls, limit = spent.calls, self.config.budget.max_calls
        if self.stage in ("test", "done") and self.test_meter is not None:
            calls, limit = self.test_meter.spend().calls, self.test_meter.budget.max_calls
        self.on_progress(Progress(self.stage, calls, limit, len(self.pool), best, message))

    # --- scores -----------------------------------------------------------------------------------

    def score(self, entry: _Entry) -> float:
        values = [r.score for r in entry.results.values()]
        return _penalised(mean(values), entry.candidate, self.parent, self.config.length_penalty)

    def validation_value(self, candidate: Candidate, answers: list[ItemResult]) -> float:
        """The length-penalised mean of ``answers`` (the parent's penalty is zero)."""
        return _penalised(
            mean([r.score for r in answers]), candidate, self.parent, self.config.length_penalty
        )

    def lower_bound(self, entry: _Entry) -> float:
        n = max(1, len(entry.results))
        m = self.score(entry)
        return m - math.sqrt(max(m * (1 - m), 0.05) / n)

    def evaluate(self, entry: _Entry, rung: int) -> bool:
        """Score ``entry`` on the items of ``rung``; False when the budget ran out first."""
        outcome = self.runner.run(entry.candidate, self.train[: self.rungs[rung]], purpose="train")
        for result in outcome.results:
            entry.results[result.key] = result
        if outcome.complete:
            entry.rung = max(entry.rung, rung)
        return outcome.complete

    # --- selection --------------------------------------------------------------------------------

    def pareto_pick(self) -> _Entry:
        entries = [e for e in self.pool.values() if e.rung >= 0]
        items = [x.key for x in self.train[: self.rungs[0]]]
        wins: dict[str, int] = {}
        for item in items:
            best = max(e.results[item].score for e in entries)
            if best <= 0:
                continue
            for e in entries:
                if e.results[item].score >= best:
                    wins[e.candidate.key] = wins.get(e.candidate.key, 0) + 1
        front = [e for e in entries if e.candidate.key in wins and not self._dominated(e, entries, items)]
        if not front:
            return max(entries, key=self.score)
        weights = [wins[e.candidate.key] for e in front]
        return self.rng.choices(front, weights=weights, k=1)[0]

    @staticmethod
    def _dominated(entry: _Entry, entries: list[_Entry], items: list[str]) -> bool:
        mine = [entry.results[i].score for i in items]
        for other in entries:
            if other is entry:
                continue
            theirs = [other.results[i].score for i in items]
            if all(t >= m for t, m in zip(theirs, mine, strict=True)) and theirs != mine:
                return True
        return False

    def promote(self) -> bool:
        """One pass of asynchronous successive halving; False when the budget ran out."""
        for rung in range(len(self.rungs) - 1):
            reached = [e for e in self.pool.values() if e.rung >= rung]
            if len(reached) < 2:
                continue
            items = [x.key for x in self.train[: self.rungs[rung]]]
            ranked = sorted(reached, key=lambda e: -mean([e.results[i].score for i in items]) + self._pen(e))
            top = ranked[: math.ceil(len(reached) / 2)]
            for entry in top:
                if entry.rung == rung and self.score(entry) > 0 and not self.evaluate(entry, rung + 1):
                    return False
        return True

    def demo_search(self, generation: int) -> bool:
        """Siblings (demo orders, one demo swapped) of candidates with demos that survived a halving."""
        if self.config.demo_variants <= 0:
            return True
        survivors = [
            e
            for e in self.pool.values()
            if e.rung >= 1 and len(e.candidate.parts.demos) >= 2 and e.candidate.key not in self.spawned
        ]
        for entry in survivors:
            self.spawned.add(entry.candidate.key)
            siblings = demo_siblings(
                entry.candidate, self.evidence(entry), rng=self.rng, count=self.config.demo_variants
            )
            for sibling in siblings:
                admitted = self.admit(sibling, generation)
                if admitted is not None:
                    self.spawned.add(sibling.key)
                    if not self.evaluate(admitted, 0):
                        return False
        return True

    def _pen(self, entry: _Entry) -> float:
        return self.config.length_penalty * max(0, entry.candidate.chars - self.parent.chars) / 1000.0

    # --- evidence ---------------------------------------------------------------------------------

    def evidence(self, base: _Entry) -> Evidence:
        by_key = {e.key: e for e in self.train}
        scored = tuple(ScoredExample(by_key[k], r) for k, r in base.results.items() if k in by_key)
        demos: dict[str, Demo] = {}
        for entry in self.pool.values():
            for key, result in entry.results.items():
                if result.score >= 1.0 and result.output.strip() and key in by_key:
                    demos.setdefault(
                        key, Demo(key, dict(by_key[key].inputs), result.output.strip(), "bootstrapped")
                    )
        ranked = sorted(self.pool.values(), key=self.score, reverse=True)
        return Evidence(
            task=self.data.task,
            evaluator=self.evaluator.describe(),
            scored=scored,
            demos=tuple(demos.values()),
            train=tuple(self.train),
            history=tuple((e.candidate, self.score(e)) for e in self.pool.values() if e.results),
            pool=tuple((e.candidate, self.score(e)) for e in ranked[:4] if e.results),
            max_chars=self.max_chars,
            labels=self.labels,
            constrain=self.evaluator.labels is not None,
        )

    # --- the loop ---------------------------------------------------------------------------------

    def admit(self, candidate: Candidate, generation: int) -> _Entry | None:
        if candidate.key in self.pool:
            return None
        _, why = check_candidate(
            candidate.parts,
            candidate.settings,
            variables=parse_template(self.parent.template).variables,
            sample_inputs=self.train[0].inputs,
            max_chars=self.max_chars,
        )
        if why is not None:
            self.invalid.append(Unusable(candidate.strategy, why, str(candidate.template)[:2000]))
            return None
        entry = _Entry(replace(candidate, generation=generation), {})
        self.pool[candidate.key] = entry
        return entry

    def search(self) -> tuple[int, str]:
        parent = _Entry(self.parent, {})
        self.pool[self.parent.key] = parent
        if not self.evaluate(parent, 0):
            return 0, "budget spent on the parent's first minibatch"
        order = list(self.config.strategies)
        idle = 0
        for generation in range(1, self.config.max_generations + 1):
            if not self.meter.can_afford(self.rungs[0]):
                return generation - 1, "search budget spent"
            strategy = order[(generation - 1) % len(order)]
            base = self.pareto_pick()
            proposals = strategy.propose(
                parent=base.candidate,
                evidence=self.evidence(base),
                proposer=self.proposer,
                rng=self.rng,
                count=self.config.children,
            )
            self.unusable.extend(proposals.unusable)
            admitted = [e for e in (self.admit(c, generation) for c in proposals.candidates) if e is not None]
            idle = 0 if admitted else idle + 1
            for entry in admitted:
                if not self.evaluate(entry, 0):
                    return generation, "search budget spent"
            if not self.promote():
                return generation, "search budget spent"
            if not self.demo_search(generation):
                return generation, "search budget spent"
            self.report(f"generation {generation}: {strategy.name} proposed {len(proposals.candidates)}")
            if idle >= 2 * len(order):
                return generation, "no strategy proposed anything new"
        return self.config.max_generations, "generation limit reached"


def run_search(
    *,
    parent: Candidate,
    data: SearchData,
    config: SearchConfig,
    evaluator: Evaluator,
    provider: Provider,
    proposer_provider: Provider | None = None,
    proposer_settings: ModelSettings | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> SearchResult:
    """Run one evolution search (see the module docstring); refuses before any call if the budget is short."""
    started = time.perf_counter()
    final_calls, final_tokens = _final_plan(parent, data, config)
    _check_budget(
        config.budget,
        final_calls,
        final_tokens,
        min(config.minibatch, len(data.train)),
        config,
        len(data.validation),
    )
    run = _Run(
        parent,
        data,
        config,
        evaluator,
        provider,
        proposer_provider or provider,
        proposer_settings,
        on_progress,
    )
    n_test = min(len(data.test), config.test_items or len(data.test))
    _check_test_budget(config, n_test, _test_arms(parent, evaluator.labels))
    with run.meter.set_aside(final_calls, final_tokens):
        generations, stopped = run.search()
    finalists, parent_validation, parent_items, winner = _validate(run)
    stage = _test(run, winner, provider)
    run.stage = "done"
    run.report(stopped)
    candidates = tuple(
        _scored(run, e) for e in run.pool.values() if e.candidate.key != parent.key and e.results
    )
    finalist_of = {f.candidate.key: f for f in finalists}
    return SearchResult(
        parent=parent,
        winner=winner,
        gate=stage.gate,
        candidates=tuple(
            sorted(
                (finalist_of.get(c.candidate.key, c) for c in candidates),
                key=lambda c: (-c.rung, -c.penalised),
            )
        ),
        finalists=finalists,
        unusable=tuple(run.unusable),
        invalid=tuple(run.invalid),
        parent_validation=parent_validation,
        parent_test=stage.parent,
        winner_test=stage.winner,
        spend=run.meter.spend(),
        planned_final_calls=final_calls,
        generations=generations,
        wall_seconds=time.perf_counter() - started,
        stopped=stopped,
        replies=tuple(run.proposer.replies),
        test=stage,
        labels=run.labels,
        parent_validation_items=parent_items,
    )


def _scored(
    run: _Run, entry: _Entry, validation: float | None = None, penalised: float | None = None
) -> ScoredCandidate:
    values = [r.score for r in entry.results.values()]
    return ScoredCandidate(
        entry.candidate, mean(values), len(values), entry.rung, run.score(entry), validation, penalised
    )


def _validate(run: _Run) -> tuple[tuple[ScoredCandidate, ...], float | None, int, Candidate | None]:
    """Staged validation (module docstring, step 5).

    Returns the finalists (raw and penalised means on the validation items each answered, and how
    many), the parent's raw mean and item count, and the winner (or None).
    """
    run.stage = "validation"
    others = [e for e in run.pool.values() if e.candidate.key != run.parent.key and e.rung >= 0]
    best = sorted(others, key=lambda e: (-e.rung, -run.lower_bound(e)))[: run.config.finalists]
    if not best:
        return (), None, 0, None
    items = list(run.data.validation or run.data.train)
    sizes = _validation_rungs(len(items), run.config.validation_rungs)
    caps = _validation_caps(len(best), len(sizes))
    answers: dict[str, list[ItemResult]] = {run.parent.key: [], **{e.candidate.key: [] for e in best}}
    complete = dict.fromkeys(answers, True)
    alive, parent_in, previous = [e.candidate for e in best], True, 0
    for rung, size in enumerate(sizes):
        contenders = ([run.parent] if parent_in else []) + alive
        for candidate in contenders:
            outcome = run.runner.run(candidate, items[previous:size], purpose="validation")
            answers[candidate.key].extend(outcome.results)
            complete[candidate.key] = complete[candidate.key] and outcome.complete
        previous = size
        if rung == len(sizes) - 1:
            break
        scored = [c for c in contenders if complete[c.key]]
        value = {c.key: run.validation_value(c, answers[c.key]) for c in scored}
        lead = max(scored, key=lambda c: value[c.key], default=None)
        below = {c.key for c in scored if lead is not None and _clearly_below(run, c, lead, answers)}
        parent_in = parent_in and complete[run.parent.key] and run.parent.key not in below
        kept = sorted(
            (c for c in alive if c.key in value and c.key not in below), key=lambda c: -value[c.key]
        )
        alive = kept[: caps[rung + 1]]
        if not alive:  # no finalist left to win: the parent needs no more items either
            break
        parent_note = "the parent goes on" if parent_in else "the parent stops"
        run.report(f"validation rung {rung + 1}: {len(alive)} finalists go on, {parent_note}")
    finalists = [_finalist(run, e, answers[e.candidate.key], complete[e.candidate.key]) for e in best]
    run.report("validation done")
    parent_answers = answers[run.parent.key]
    parent_score = mean([r.score for r in parent_answers]) if complete[run.parent.key] else None
    eligible = [
        f
        for f in finalists
        if f.candidate.key in {c.key for c in alive}
        and f.validation_penalised is not None
        and f.validation_items == len(items)
    ]
    if parent_score is None or not eligible:
        return tuple(finalists), parent_score, len(parent_answers), None
    top = max(eligible, key=lambda f: f.validation_penalised or 0.0)
    # Against the parent on the items the parent answered (all of them unless it stopped early).
    shared = run.validation_value(top.candidate, answers[top.candidate.key][: len(parent_answers)])
    winner = top.candidate if shared > parent_score else None
    return tuple(finalists), parent_score, len(parent_answers), winner


def _finalist(run: _Run, entry: _Entry, answers: list[ItemResult], complete: bool) -> ScoredCandidate:
    score = mean([r.score for r in answers]) if complete and answers else None
    pen = None if score is None else _penalised(score, entry.candidate, run.parent, run.config.length_penalty)
    return replace(_scored(run, entry, score, pen), validation_items=len(answers))


def _clearly_below(
    run: _Run, candidate: Candidate, lead: Candidate, answers: dict[str, list[ItemResult]]
) -> bool:
    """Whether ``candidate`` trails ``lead`` on the same items beyond doubt: the normal 95 % upper bound
    of the mean paired difference of raw scores is below zero (a length penalty alone never stops a
    contender; it only orders them). Deterministic: no resampling."""
    if candidate.key == lead.key:
        return False
    mine, theirs = answers[candidate.key], answers[lead.key]
    n = min(len(mine), len(theirs))
    if n < 2:
        return False
    diffs = np.array([a.score - b.score for a, b in zip(mine[:n], theirs[:n], strict=True)])
    upper = float(diffs.mean()) + 1.959964 * float(diffs.std(ddof=1)) / math.sqrt(n)
    return upper < 0


def _test_examples(run: _Run) -> tuple[Example, ...]:
    """The test split, or a seeded sample of it (``test_items``), in the split's order."""
    test = run.data.test
    size = run.config.test_items
    if size is None or size >= len(test):
        return tuple(test)
    keep = set(random.Random(f"test:{run.config.seed}").sample(range(len(test)), size))
    return tuple(e for i, e in enumerate(test) if i in keep)


def _test(run: _Run, winner: Candidate | None, provider: Provider) -> TestStage:
    if winner is None:
        return TestStage()
    run.stage = "test"
    examples = _test_examples(run)
    constrained = _constrained(run.parent, run.evaluator.labels)
    planned = len(examples) * (3 if constrained is not None else 2)
    run.test_meter = BudgetMeter(Budget(max_calls=run.config.test_budget or max(planned, 1)))
    runner = CandidateRunner(
        provider=provider,
        evaluator=run.evaluator,
        meter=run.test_meter,
        on_call=run._tick,
        retriever=run.retriever,
    )
    parent = runner.run(run.parent, examples, purpose="test")
    child = runner.run(winner, examples, purpose="test")
    baselines, complete = _baselines(run, runner, constrained, examples)
    stage = TestStage(examples, parent.results, child.results, baselines, planned_calls=planned)
    if not (parent.complete and child.complete and complete) or len(examples) < 2:
        return replace(stage, verdict="untested", spend=run.test_meter.spend())
    return _judge(run, stage)


def _baselines(
    run: _Run, runner: CandidateRunner, constrained: Candidate | None, examples: tuple[Example, ...]
) -> tuple[tuple[Baseline, ...], bool]:
    """The trivial baselines on the test items, and whether the budget let them all finish."""
    found: list[Baseline] = []
    constant = constant_baseline(run.train, examples, run.evaluator)
    if constant is not None:
        found.append(constant)
    if constrained is None:
        return tuple(found), True
    outcome = runner.run(constrained, examples, purpose="test")
    if outcome.complete:
        labels = ", ".join(run.evaluator.labels or ())
        found.append(Baseline(CONSTRAINED, f"the parent with choices [{labels}]", outcome.results))
    return tuple(found), outcome.complete


def _judge(run: _Run, stage: TestStage) -> TestStage:
    """The verdicts: against the parent, and against the stronger of the parent and the baselines."""
    parent_scores = [r.score for r in stage.parent]
    child_scores = [r.score for r in stage.winner]

    def paired(reference: list[float]) -> GateResult:
        return gate(
            reference,
            child_scores,
            rng=np.random.default_rng(run.config.seed),
            confidence=run.config.confidence,
            resamples=run.config.resamples,
        )

    parent_gate = paired(parent_scores)
    reference, reference_scores = "parent", parent_scores
    for baseline in stage.baselines:  # a tie goes to the baseline: the stricter reading
        if baseline.mean >= mean(reference_scores):
            reference, reference_scores = baseline.name, list(baseline.scores)
    verdict_gate = parent_gate if reference == "parent" else paired(reference_scores)
    if verdict_gate.passed:
        verdict = "passed"
    elif reference != "parent" and mean(child_scores) > mean(parent_scores):
        verdict = "format_only"
    else:
        verdict = "rejected"
    if reference != "parent":
        verdict_gate = replace(verdict_gate, reason=f"against the {reference}: {verdict_gate.reason}")
    run.report(verdict_gate.reason)
    assert run.test_meter is not None
    return replace(
        stage,
        gate=verdict_gate,
        parent_gate=parent_gate,
        reference=reference,
        verdict=verdict,
        spend=run.test_meter.spend(),
    )
