"""Trivial baselines: what a prompt must beat before its score means it learnt the task.

A classifier that answers the majority class on a balanced binary set scores 50 %; a prompt whose
answers were unparsable scores 0 %. A candidate that moves from the second to the first has repaired the
format of the answers, not learnt the task, and a gate that compares it with its parent alone calls that
a +0.5 improvement. So every evaluation and every evolution report also shows:

* the **best constant answer** (``constant_baseline``): among the most frequent gold answers of the
  train items (and the evaluator's labels, when it knows them), the one with the best mean score on the
  train items, then scored on the evaluated items without any model call. For a classification task
  under ``exact`` or ``normalized`` it is the majority class of the train split (named so);
* the **parent constrained to the label set** (run by ``search`` and ``service``, since it costs model
  calls): the parent with the ``choices`` setting, when the evaluator knows the labels.

``label_space`` says whether a task is a classification: the evaluator's ``labels`` option, else gold
answers that are short scalars with few distinct values (at most ``max_labels``, each seen at least
twice on average). Pure: no I/O, no model call; evaluators that call a model (``judge``) get no constant
baseline.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from promptevolve.evolution.candidates import ItemResult, mean
from promptevolve.evolution.datasets import Example
from promptevolve.scoring.evaluators import Evaluator

__all__ = ["Baseline", "answer_text", "constant_baseline", "label_space"]

#: Distinct gold answers beyond which a task is not treated as a classification.
MAX_LABELS = 20
#: Constant answers tried (the most frequent gold answers); each costs one evaluator run per train item.
MAX_CONSTANTS = 8
#: Train items used to choose the constant (enough to rank a handful of answers).
MAX_TRAIN = 300


@dataclass(frozen=True, slots=True)
class Baseline:
    """A reference answer policy scored on the evaluated items (same order as the items)."""

    name: str
    detail: str
    results: tuple[ItemResult, ...]
    trivial: bool = True  # a baseline that learns nothing from the input (vs the parent itself)

    @property
    def scores(self) -> tuple[float, ...]:
        return tuple(r.score for r in self.results)

    @property
    def mean(self) -> float:
        return mean(self.scores)


def answer_text(expected: object) -> str:
    """A gold answer as text, as a model would write it (JSON for objects, else ``str``)."""
    if isinstance(expected, dict | list):
        return json.dumps(expected, ensure_ascii=False)
    return str(expected)


def label_space(
    examples: Sequence[Example], evaluator: Evaluator, *, max_labels: int = MAX_LABELS
) -> tuple[str, ...] | None:
    """The label set of a classification task (the evaluator's, else inferred), or None."""
    if evaluator.labels is not None:
        return evaluator.labels
    gold = [e.expected for e in examples if e.expected is not None]
    if len(gold) < 4 or any(isinstance(g, dict | list) for g in gold):
        return None
    texts = [str(g).strip() for g in gold]
    counts = Counter(texts)
    if len(counts) > max_labels or len(counts) * 2 > len(texts) or any(len(t) > 40 for t in counts):
        return None
    return tuple(label for label, _ in counts.most_common())


def constant_baseline(
    train: Sequence[Example], items: Sequence[Example], evaluator: Evaluator
) -> Baseline | None:
    """The best constant answer chosen on ``train``, scored on ``items``; None when it cannot be priced."""
    if evaluator.calls_model or not items:
        return None
    pool = [e for e in (train or items) if e.expected is not None][:MAX_TRAIN]
    if not pool:
        return None
    counts = Counter(answer_text(e.expected) for e in pool)
    options = [answer for answer, _ in counts.most_common(MAX_CONSTANTS)]
    options += [label for label in evaluator.labels or () if label not in options]
    if not options:
        return None
    best = max(options, key=lambda a: (mean([_score(evaluator, a, e) for e in pool]), counts.get(a, 0)))
    results = tuple(_result(evaluator, best, e) for e in items)
    majority = counts.most_common(1)[0][0]
    categorical = label_space(pool, evaluator) is not None
    name = "majority class" if categorical and best == majority else "best constant answer"
    source = "train" if train else "evaluated"
    shown = best if len(best) <= 60 else best[:59] + "…"
    return Baseline(name, f"always answers {shown!r} (chosen on the {source} items)", results)


def _score(evaluator: Evaluator, answer: str, example: Example) -> float:
    return _result(evaluator, answer, example).score


def _result(evaluator: Evaluator, answer: str, example: Example) -> ItemResult:
    verdict = evaluator.evaluate(
        output=answer, expected=example.expected, inputs=example.inputs, rubric=example.rubric
    )
    return ItemResult(example.key, verdict.score, answer, verdict.explanation, verdict.parsed, verdict.fields)
