"""The search: propose, score on train minibatches, spend on the promising, validate, test, gate.

One run, step by step (``run_search``):

1. **Plan the budget.** The final stages are priced first: the parent and ``finalists`` candidates on
   the validation split, then the parent and the winner on the test split. If the budget cannot pay for
   them plus one minibatch, the run is refused before any call (``BudgetExceededError``). That amount
   is set aside; the search spends only the rest. Every call, proposal or evaluation, reserves its
   tokens first (``budget``), so neither limit is ever passed.
2. **Generations.** Each generation picks a parent from the pool by **Pareto selection** across train
   items (as GEPA: a candidate that is best on some item stays eligible even if its mean is lower;
   drawn with weights = items won), asks the next strategy in turn for ``children`` candidates (built
   from evidence: the parent's scored answers with the evaluator's explanations, demos, the run's
   history), checks each (variables intact, renders, length limit) and scores it on the first rung.
3. **Successive halving** (asynchronous, as ASHA): rung ``r`` is the first ``minibatch × 2^r`` items of
   the seeded train order (the last rung is the whole train split). After each generation, a candidate
   that ranks in the top half of all candidates that reached its rung is promoted to the next rung.
   Every candidate is compared on the same items, so comparisons are paired and cached calls reused.
4. **Ranking** uses the mean score minus a **length penalty** (``length_penalty`` per 1,000 characters
   beyond the parent's); candidates over ``max_prompt_chars`` are refused at the check.
5. **Validation**: the best ``finalists`` (highest rung, then score) and the parent answer the whole
   validation split; the best finalist must beat the parent there, else there is no winner.
6. **Test and gate**: the parent and the winner answer the test split; ``gate`` computes the paired
   bootstrap interval of the improvement. Passing means its lower bound is above zero.

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

import numpy as np

from promptevolve.core.errors import BudgetExceededError, ValidationError
from promptevolve.core.protocols import Provider
from promptevolve.core.types import ModelSettings
from promptevolve.evolution.budget import Budget, BudgetMeter, Spend, estimate_tokens
from promptevolve.evolution.candidates import Candidate, ItemResult, Unusable, mean
from promptevolve.evolution.datasets import Example
from promptevolve.evolution.gate import GateResult, gate
from promptevolve.evolution.parts import Demo, check_candidate
from promptevolve.evolution.runner import CandidateRunner, Proposer
from promptevolve.evolution.strategies.base import Evidence, ScoredExample, Strategy
from promptevolve.scoring.evaluators import Evaluator
from promptevolve.templates import parse_template, render

__all__ = ["Progress", "ScoredCandidate", "SearchConfig", "SearchData", "SearchResult", "run_search"]


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


@dataclass(frozen=True, slots=True)
class SearchData:
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    task: str


@dataclass(frozen=True, slots=True)
class Progress:
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
    validation_score: float | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    parent: Candidate
    winner: Candidate | None
    gate: GateResult | None
    candidates: tuple[ScoredCandidate, ...]
    finalists: tuple[ScoredCandidate, ...]
    unusable: tuple[Unusable, ...]
    invalid: tuple[Unusable, ...]
    parent_validation: float | None
    parent_test: tuple[ItemResult, ...]
    winner_test: tuple[ItemResult, ...]
    spend: Spend
    planned_final_calls: int
    generations: int
    wall_seconds: float
    stopped: str
    replies: tuple[str, ...] = field(default=())


@dataclass
class _Entry:
    """A candidate of the pool and its results on train items (mutable only inside one run)."""

    candidate: Candidate
    results: dict[str, ItemResult]
    rung: int = -1
    promoted: bool = False


def _rungs(n_train: int, minibatch: int) -> list[int]:
    sizes, size = [], max(1, min(minibatch, n_train))
    while size < n_train:
        sizes.append(size)
        size *= 2
    return [*sizes, n_train]


def _penalised(score: float, candidate: Candidate, parent: Candidate, penalty: float) -> float:
    return score - penalty * max(0, candidate.chars - parent.chars) / 1000.0


def _final_plan(parent: Candidate, data: SearchData, config: SearchConfig) -> tuple[int, int]:
    """(calls, tokens) the validation and test stages need, to set aside before the search."""
    calls = (config.finalists + 1) * len(data.validation) + 2 * len(data.test)
    parsed = parse_template(parent.template)
    per_call = max(
        (
            estimate_tokens(render(parsed, e.inputs).prompt, parent.settings)
            for e in (*data.validation, *data.test)
        ),
        default=0,
    )
    return calls, int(calls * per_call * 1.5)


def _check_budget(budget: Budget, calls: int, tokens: int, minibatch: int) -> None:
    if budget.max_calls < calls + minibatch:
        raise BudgetExceededError(
            f"a budget of {budget.max_calls} model calls cannot pay for this run: validation and test "
            f"need {calls} calls and the search at least {minibatch} more; raise the budget to at least "
            f"{calls + minibatch} or use a smaller dataset"
        )
    if budget.max_tokens is not None and budget.max_tokens < tokens:
        raise BudgetExceededError(
            f"a budget of {budget.max_tokens} tokens cannot pay for this run: validation and test may need "
            f"up to {tokens} tokens; raise the token budget or use a smaller dataset"
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
        self.runner = CandidateRunner(
            provider=provider, evaluator=evaluator, meter=self.meter, on_call=self._tick
        )
        self.proposer = Proposer(
            provider=proposer_provider, meter=self.meter, settings=proposer_settings, on_call=self._tick
        )
        self.on_progress = on_progress
        self.train = list(data.train)
        self.rng.shuffle(self.train)
        self.rungs = _rungs(len(self.train), config.minibatch)
        self.max_chars = config.max_prompt_chars or max(3 * parent.chars, 6000)
        self.pool: dict[str, _Entry] = {}
        self.unusable: list[Unusable] = []
        self.invalid: list[Unusable] = []
        self.stage = "search"

    # --- progress ---------------------------------------------------------------------------------

    def _tick(self, _purpose: str) -> None:
        self.report("")

    def report(self, message: str) -> None:
        if self.on_progress is None:
            return
        best = max((self.score(e) for e in self.pool.values() if e.results), default=None)
        spent = self.meter.spend()
        self.on_progress(
            Progress(self.stage, spent.calls, self.config.budget.max_calls, len(self.pool), best, message)
        )

    # --- scores -----------------------------------------------------------------------------------

    def score(self, entry: _Entry) -> float:
        values = [r.score for r in entry.results.values()]
        return _penalised(mean(values), entry.candidate, self.parent, self.config.length_penalty)

    def lower_bound(self, entry: _Entry) -> float:
        n = max(1, len(entry.results))
        m = self.score(entry)
        return m - math.sqrt(max(m * (1 - m), 0.05) / n)

    def evaluate(self, entry: _Entry, rung: int) -> bool:
        """Score ``entry`` on the items of ``rung``; False when the budget ran out first."""
        outcome = self.runner.run(entry.candidate, self.train[: self.rungs[rung]])
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
    _check_budget(config.budget, final_calls, final_tokens, min(config.minibatch, len(data.train)))
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
    with run.meter.set_aside(final_calls, final_tokens):
        generations, stopped = run.search()
    finalists, parent_validation, winner = _validate(run)
    parent_test, winner_test, verdict = _test(run, winner)
    run.stage = "done"
    run.report(stopped)
    candidates = tuple(
        _scored(run, e) for e in run.pool.values() if e.candidate.key != parent.key and e.results
    )
    return SearchResult(
        parent=parent,
        winner=winner,
        gate=verdict,
        candidates=tuple(sorted(candidates, key=lambda c: (-c.rung, -c.penalised))),
        finalists=finalists,
        unusable=tuple(run.unusable),
        invalid=tuple(run.invalid),
        parent_validation=parent_validation,
        parent_test=parent_test,
        winner_test=winner_test,
        spend=run.meter.spend(),
        planned_final_calls=final_calls,
        generations=generations,
        wall_seconds=time.perf_counter() - started,
        stopped=stopped,
        replies=tuple(run.proposer.replies),
    )


def _scored(run: _Run, entry: _Entry, validation: float | None = None) -> ScoredCandidate:
    values = [r.score for r in entry.results.values()]
    return ScoredCandidate(
        entry.candidate, mean(values), len(values), entry.rung, run.score(entry), validation
    )


def _validate(run: _Run) -> tuple[tuple[ScoredCandidate, ...], float | None, Candidate | None]:
    run.stage = "validation"
    others = [e for e in run.pool.values() if e.candidate.key != run.parent.key and e.rung >= 0]
    best = sorted(others, key=lambda e: (-e.rung, -run.lower_bound(e)))[: run.config.finalists]
    if not best:
        return (), None, None
    items = run.data.validation or run.data.train
    parent_outcome = run.runner.run(run.parent, items)
    parent_score = mean([r.score for r in parent_outcome.results]) if parent_outcome.complete else None
    finalists: list[ScoredCandidate] = []
    for entry in best:
        outcome = run.runner.run(entry.candidate, items)
        score = mean([r.score for r in outcome.results]) if outcome.complete else None
        pen = (
            None
            if score is None
            else _penalised(score, entry.candidate, run.parent, run.config.length_penalty)
        )
        finalists.append(_scored(run, entry, pen))
    run.report("validation done")
    eligible = [f for f in finalists if f.validation_score is not None]
    if parent_score is None or not eligible:
        return tuple(finalists), parent_score, None
    top = max(eligible, key=lambda f: f.validation_score or 0.0)
    winner = top.candidate if (top.validation_score or 0.0) > parent_score else None
    return tuple(finalists), parent_score, winner


def _test(
    run: _Run, winner: Candidate | None
) -> tuple[tuple[ItemResult, ...], tuple[ItemResult, ...], GateResult | None]:
    if winner is None:
        return (), (), None
    run.stage = "test"
    parent = run.runner.run(run.parent, run.data.test)
    child = run.runner.run(winner, run.data.test)
    if not (parent.complete and child.complete) or len(run.data.test) < 2:
        return parent.results, child.results, None
    verdict = gate(
        [r.score for r in parent.results],
        [r.score for r in child.results],
        rng=np.random.default_rng(run.config.seed),
        confidence=run.config.confidence,
        resamples=run.config.resamples,
    )
    run.report(verdict.reason)
    return parent.results, child.results, verdict
