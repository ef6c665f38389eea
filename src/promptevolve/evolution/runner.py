"""Running candidates on dataset items within the budget, and the optimizer model's calls.

``CandidateRunner`` renders a candidate for each item, asks the meter for a reservation, calls the
provider, and scores the output with the evaluator. Results are cached per (candidate key, item key)
for the run, so an item is never paid for twice (successive halving re-reads the items of lower rungs).
A provider error scores 0 with the error as the explanation: a failing prompt is a bad prompt. When the
budget refuses a call the runner stops and returns what it has, flagged ``complete=False``. Rendering
goes through a ``DemoRetriever``, so a candidate that picks its demos per call (``retrieval``) is
measured exactly as it will serve, except that an item never sees itself among its demos.

``Proposer`` is the model that writes candidates (the local model by default, any provider by
configuration). Its calls go through the same meter with the purpose ``proposal``. Each call gets a seed
drawn from the run's random generator, so a seeded run with a deterministic model repeats exactly.
Every reply is kept (``replies``) so unusable proposals can be inspected.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptevolve.core.errors import ProviderError, TemplateError
from promptevolve.core.protocols import Provider
from promptevolve.core.types import ChatMessage, ModelSettings, RenderedPrompt, TemplateKind
from promptevolve.evolution.budget import BudgetMeter
from promptevolve.evolution.candidates import Candidate, ItemResult
from promptevolve.evolution.datasets import Example
from promptevolve.scoring.evaluators import Evaluator
from promptevolve.scoring.evaluators.minilm import MiniLMEncoder
from promptevolve.templates import DemoRetriever, parse_template

__all__ = ["CandidateRunner", "Proposer", "RunOutcome"]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    results: tuple[ItemResult, ...]
    complete: bool


class CandidateRunner:
    def __init__(
        self,
        *,
        provider: Provider,
        evaluator: Evaluator,
        meter: BudgetMeter,
        on_call: Callable[[str], None] | None = None,
        retriever: DemoRetriever | None = None,
    ) -> None:
        self._provider = provider
        self._evaluator = evaluator
        self._meter = meter
        self._retriever = retriever or DemoRetriever(encoder=MiniLMEncoder)
        self._on_call = on_call
        self._cache: dict[tuple[str, str], ItemResult] = {}
        self._lock = threading.Lock()

    def cached(self, candidate: Candidate, examples: Sequence[Example]) -> tuple[ItemResult, ...]:
        with self._lock:
            found = (self._cache.get((candidate.key, e.key)) for e in examples)
            return tuple(r for r in found if r is not None)

    def run(self, candidate: Candidate, examples: Sequence[Example], *, purpose: str = "train") -> RunOutcome:
        """``candidate`` on ``examples`` in order; new calls are counted under ``purpose``."""
        parsed = parse_template(candidate.template)
        results: list[ItemResult] = []
        for example in examples:
            with self._lock:
                hit = self._cache.get((candidate.key, example.key))
            if hit is None:
                hit = self._call(candidate, parsed, example, purpose)
                if hit is None:
                    return RunOutcome(tuple(results), complete=False)
                with self._lock:
                    self._cache[(candidate.key, example.key)] = hit
            results.append(hit)
        return RunOutcome(tuple(results), complete=True)

    def _call(
        self, candidate: Candidate, parsed: object, example: Example, purpose: str
    ) -> ItemResult | None:
        try:
            rendered = self._retriever.render(
                parsed,  # type: ignore[arg-type]
                candidate.settings,
                example.inputs,
                exclude=(example.key,),
            )
            settings = self._retriever.provider_settings(candidate.settings)
        except TemplateError as exc:  # a retrieval pool that cannot be used: the candidate fails, no call
            return ItemResult(example.key, 0.0, "", f"render failed: {exc}", False, error=str(exc))
        prompt = rendered.prompt
        reservation = self._meter.reserve(prompt, settings, purpose=purpose)
        if reservation is None:
            return None
        try:
            completion = self._provider.complete(prompt, settings)
        except ProviderError as exc:
            self._meter.settle(reservation, None)
            self._notify(purpose)
            return ItemResult(example.key, 0.0, "", f"model call failed: {exc}", False, error=str(exc))
        tokens = completion.prompt_tokens + completion.completion_tokens
        self._meter.settle(reservation, tokens)
        self._notify(purpose)
        verdict = self._evaluator.evaluate(
            output=completion.text, expected=example.expected, inputs=example.inputs, rubric=example.rubric
        )
        return ItemResult(
            example.key,
            verdict.score,
            completion.text,
            verdict.explanation,
            verdict.parsed,
            dict(verdict.fields),
            tokens,
        )

    def label_distribution(
        self, candidate: Candidate, variables: Mapping[str, Any]
    ) -> Mapping[str, float] | None:
        """The task model's label probabilities for ``candidate`` on ``variables``: a calibration probe.

        Charged as a proposal call (it buys a candidate, not a score). None when the budget refuses,
        the call fails, or the provider returns no label probabilities (``choices`` unset, no
        log-probabilities)."""
        try:
            parsed = parse_template(candidate.template)
            prompt = self._retriever.render(parsed, candidate.settings, variables).prompt
        except TemplateError:
            return None
        settings = self._retriever.provider_settings(candidate.settings)
        reservation = self._meter.reserve(prompt, settings, purpose="proposal")
        if reservation is None:
            return None
        try:
            completion = self._provider.complete(prompt, settings)
        except ProviderError:
            self._meter.settle(reservation, None)
            self._notify("proposal")
            return None
        self._meter.settle(reservation, completion.prompt_tokens + completion.completion_tokens)
        self._notify("proposal")
        probs = completion.extra.get("label_probs")
        return probs if isinstance(probs, Mapping) else None

    def _notify(self, purpose: str) -> None:
        if self._on_call is not None:
            self._on_call(purpose)


class Proposer:
    """The optimizer model: ``ask`` returns its reply, or None when the budget refuses the call."""

    def __init__(
        self,
        *,
        provider: Provider,
        meter: BudgetMeter,
        settings: ModelSettings | None = None,
        on_call: Callable[[str], None] | None = None,
        task: CandidateRunner | None = None,
    ) -> None:
        self._provider = provider
        self._meter = meter
        self._settings = settings or ModelSettings(temperature=0.7, max_tokens=300, repeat_penalty=1.15)
        self._on_call = on_call
        self._task = task
        self.replies: list[str] = []

    def probe_labels(self, candidate: Candidate, variables: Mapping[str, Any]) -> Mapping[str, float] | None:
        """The *task* model's label probabilities for a candidate (see ``CandidateRunner``); None without
        a task runner. Strategies that calibrate a label prompt need the evaluated model, not this one."""
        return None if self._task is None else self._task.label_distribution(candidate, variables)

    @property
    def name(self) -> str:
        return getattr(self._provider, "name", "model")

    def ask(self, *, system: str, user: str, rng: random.Random, max_tokens: int | None = None) -> str | None:
        settings = self._settings.model_copy(
            update={"seed": rng.randrange(2**31), **({"max_tokens": max_tokens} if max_tokens else {})}
        )
        prompt = RenderedPrompt(
            TemplateKind.CHAT, messages=(ChatMessage("system", system), ChatMessage("user", user))
        )
        reservation = self._meter.reserve(prompt, settings, purpose="proposal")
        if reservation is None:
            return None
        try:
            completion = self._provider.complete(prompt, settings)
        except ProviderError as exc:
            self._meter.settle(reservation, None)
            self._notify()
            self.replies.append(f"<provider error: {exc}>")
            return ""
        self._meter.settle(reservation, completion.prompt_tokens + completion.completion_tokens)
        self._notify()
        self.replies.append(completion.text)
        return completion.text

    def _notify(self) -> None:
        if self._on_call is not None:
            self._on_call("proposal")
