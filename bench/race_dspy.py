"""The DSPy side of ``bench/classification_race.py``: DSPy 3.4.1 programs and optimizers on a label task.

Kept apart from the race's driver so that the driver reads as the race (data, arms, statistics) and this
module as "how DSPy is run fairly":

* **the same model**: the bundled SmolLM2 through the local provider, served over the OpenAI protocol
  by the test server (``tests/providers/openai_server.py``), greedy;
* **the labels enforced, as ours**: the output field is ``Literal[labels]`` and the adapter is DSPy's
  ``JSONAdapter``, which sends it as OpenAI structured output (``response_format`` with an ``enum``);
  the server turns that schema into a llama.cpp grammar, so every DSPy answer is a label, as every
  ``choices`` answer of ours is. DSPy only sends a schema to a model its catalogue says supports one, so
  the server's model is *named* ``gpt-4o-mini`` (nothing leaves the machine: ``api_base`` is loopback);
* **the same cap**: every request reaching the server is counted by ``CappedProvider``; an optimizer's
  calls above the cap are refused (HTTP 400) and reported, and a timed-out optimizer is stopped the same
  way (every further call refused) so it cannot keep the model busy under the next arm;
* **the same evaluator**: ``NormalizedMatch`` with the labels scores DSPy's answers and ours.

Optimizers (``OPTIMIZERS``): BootstrapFewShot (4 bootstrapped + 4 labelled demos), KNNFewShot (k = 4
labelled neighbours by the bundled MiniLM, as our ``retrieval`` strategy's ``minilm`` index; no
bootstrapping, so no call at compile time and one per test item), BootstrapFewShotWithRandomSearch,
MIPROv2 and GEPA, each sized so its planned calls fit the cap (see ``plans``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from promptevolve.core.errors import ProviderError
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt
from promptevolve.evolution.datasets import Example
from promptevolve.providers.local import LocalProvider
from promptevolve.scoring.evaluators.normalized import NormalizedMatch

#: The name the OpenAI-compatible test server answers to (see the module docstring for why).
SERVED_NAME = "openai/gpt-4o-mini"


class CappedProvider:
    """The local provider behind the server, counting every request and refusing those over ``limit``."""

    def __init__(self, inner: LocalProvider) -> None:
        self.inner = inner
        self.calls = 0
        self.refused = 0
        self.limit: int | None = None
        self._lock = threading.Lock()

    def reset(self, limit: int | None) -> None:
        with self._lock:
            self.calls, self.refused, self.limit = 0, 0, limit

    def stop(self) -> None:
        """Refuse every further call (the counts stay)."""
        with self._lock:
            self.limit = self.calls

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        with self._lock:
            if self.limit is not None and self.calls >= self.limit:
                self.refused += 1
                raise ProviderError(f"the race's cap of {self.limit} calls is reached")
            self.calls += 1
        return self.inner.complete(prompt, settings)

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        import asyncio

        return await asyncio.to_thread(self.complete, prompt, settings)


@dataclass
class Outcome:
    """One DSPy arm: what its compile spent and how it ended; ``scores`` are per test item."""

    name: str
    status: str = "not run"
    compile_calls: int = 0
    refused: int = 0
    compile_s: float = 0.0
    test_calls: int = 0
    test_s: float = 0.0
    errors: int = 0
    scores: list[float] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    notes: str = ""


def signature(instruction: str, labels: Sequence[str]) -> Any:
    import dspy

    label_type = Literal[tuple(labels)]  # type: ignore[valid-type]
    fields = {"text": (str, dspy.InputField()), "label": (label_type, dspy.OutputField())}
    return dspy.Signature(fields, instruction)


def to_dspy(examples: Sequence[Example]) -> list[Any]:
    import dspy

    return [dspy.Example(text=e.inputs["text"], label=e.expected).with_inputs("text") for e in examples]


def make_metric(labels: Sequence[str]) -> tuple[Callable[..., float], Callable[..., float]]:
    """(the metric for Bootstrap/MIPRO, the same for GEPA's five-argument protocol)."""
    evaluator = NormalizedMatch(labels=list(labels))

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        answer = str(getattr(pred, "label", "") or "")
        return evaluator.evaluate(output=answer, expected=example.label).score

    def gepa_metric(gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None):
        return metric(gold, pred)

    return metric, gepa_metric


def plans(
    *, cap: int, n_train: int, n_val: int, seed: int, metric: Any, gepa_metric: Any, lm: Any, encode: Any
) -> dict[str, Callable[[Any, list[Any], list[Any]], Any]]:
    """Each optimizer as ``compile(program, train, val)``, sized so its planned calls fit ``cap``.

    BootstrapFewShot: one pass over train until 4 answers are right (≈ 4-10 calls). Random search:
    ``num_candidate_programs`` = 2 → 5 programs (zero-shot, labelled only, unshuffled, 2 random) each on
    a validation subset of ``(cap - 60) // 5`` items, plus bootstrapping. MIPROv2: 3 candidate
    instructions and demo sets, 8 trials on minibatches of 20, full evaluation on the validation subset
    every 5 trials. GEPA: ``max_metric_calls`` = ``cap`` − 120 (its reflection calls come on top).
    """
    import dspy

    rs_val = max(10, (cap - 60) // 5)
    mipro_val = max(10, min(n_val, (cap - 220) // 3))

    def bootstrap(program: Any, train: list[Any], val: list[Any]) -> Any:
        opt = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=4, max_labeled_demos=4)
        return opt.compile(program, trainset=train)

    def knn(program: Any, train: list[Any], val: list[Any]) -> Any:
        opt = dspy.KNNFewShot(
            k=4,
            trainset=train,
            vectorizer=dspy.Embedder(encode),
            max_bootstrapped_demos=0,
            max_labeled_demos=4,
        )
        return opt.compile(program)

    def random_search(program: Any, train: list[Any], val: list[Any]) -> Any:
        opt = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric,
            max_bootstrapped_demos=4,
            max_labeled_demos=4,
            num_candidate_programs=2,
            num_threads=1,
        )
        return opt.compile(program, trainset=train, valset=val[:rs_val])

    def mipro(program: Any, train: list[Any], val: list[Any]) -> Any:
        opt = dspy.MIPROv2(
            metric=metric,
            auto=None,
            num_candidates=3,
            max_bootstrapped_demos=4,
            max_labeled_demos=4,
            num_threads=1,
            seed=seed,
            verbose=False,
        )
        return opt.compile(
            program,
            trainset=train,
            valset=val[:mipro_val],
            num_trials=8,
            minibatch_size=min(20, len(val[:mipro_val])),
            minibatch_full_eval_steps=5,
            requires_permission_to_run=False,
        )

    def gepa(program: Any, train: list[Any], val: list[Any]) -> Any:
        opt = dspy.GEPA(
            metric=gepa_metric,
            max_metric_calls=max(50, cap - 120),
            reflection_lm=lm,
            num_threads=1,
            seed=seed,
        )
        return opt.compile(program, trainset=train, valset=val[:mipro_val])

    return {
        "dspy_bootstrap_fewshot": bootstrap,
        "dspy_knn_fewshot": knn,
        "dspy_bootstrap_rs": random_search,
        "dspy_miprov2": mipro,
        "dspy_gepa": gepa,
    }


def score_on(
    program: Any, items: Sequence[Any], metric: Callable[..., float]
) -> tuple[list[float], list[str], int]:
    """Per-item scores and answers; a call DSPy cannot complete or parse is a wrong answer (counted)."""
    scores, answers, errors = [], [], 0
    for ex in items:
        try:
            pred = program(**ex.inputs())
            scores.append(metric(ex, pred))
            answers.append(str(getattr(pred, "label", "")))
        except Exception:  # an unparsable or refused reply scores 0, as in our runner
            scores.append(0.0)
            answers.append("<error>")
            errors += 1
    return scores, answers, errors


def compile_with_limits(
    name: str, compile_: Callable[[], Any], capped: CappedProvider, *, cap: int, minutes: float
) -> tuple[Any | None, Outcome]:
    """Run one optimizer's compile in a thread under the cap and a wall-time limit; never raises."""
    outcome = Outcome(name)
    capped.reset(cap)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["program"] = compile_()
        except Exception as exc:  # reported as the arm's status, never hides the others
            box["error"] = f"{type(exc).__name__}: {exc}"[:300]

    started = time.perf_counter()
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(minutes * 60)
    if worker.is_alive():
        capped.stop()  # refuse every further call so the optimizer stops and frees the model
        worker.join(300)
        outcome.status = f"timeout: stopped after {minutes:g} minutes"
    elif "error" in box:
        outcome.status = f"crashed: {box['error']}"
    else:
        outcome.status = "finished"
    outcome.compile_s = round(time.perf_counter() - started, 1)
    outcome.compile_calls, outcome.refused = capped.calls, capped.refused
    if outcome.refused and outcome.status == "finished":
        outcome.status = f"finished with {outcome.refused} calls refused at the cap"
    capped.reset(None)
    return (box.get("program") if outcome.status.startswith("finished") else None), outcome
