"""Contextual calibration of a label prompt: the model's bias on content-free input, measured once.

Zhao et al. 2021 ("Calibrate Before Use") showed that a few-shot prompt makes a model favour some labels
whatever the input (the majority label of the demonstrations, the last one, a frequent token). Their
fix needs no training data: ask the prompt about content-free inputs ("N/A", "", "[MASK]" in every
variable), average the label probabilities, and divide each later answer's probabilities by that prior.
The provider applies the division (``label_priors`` with ``choices``, see
``promptevolve.providers.labels``); this module measures the prior.

``label_set`` decides when a dataset is a label task: few distinct short string answers.
``content_free_variables`` and ``average_priors`` are pure; ``estimate_priors`` spends one model call
per content-free input through a ``call`` the caller provides (the search's budgeted task model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "CONTENT_FREE",
    "MAX_LABELS",
    "MIN_PRIOR",
    "average_priors",
    "content_free_variables",
    "estimate_priors",
    "label_set",
]

#: The content-free inputs of the paper, each put in every variable of the prompt.
CONTENT_FREE = ("N/A", "", "[MASK]")
#: A dataset whose gold answers take more distinct values than this is not treated as a label task.
MAX_LABELS = 12
#: Priors are kept above this, so that one label the probes never produce cannot dominate by division.
MIN_PRIOR = 0.01


def label_set(expected: Iterable[Any]) -> tuple[str, ...] | None:
    """The labels of a classification dataset (sorted), or None when its answers are not labels.

    Labels are short strings (or whole numbers, read as their text) taking 2 to ``MAX_LABELS`` values.
    """
    labels: set[str] = set()
    for value in expected:
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        text = str(value).strip()
        if not text or len(text) > 40 or "\n" in text:
            return None
        labels.add(text)
        if len(labels) > MAX_LABELS:
            return None
    return tuple(sorted(labels)) if len(labels) >= 2 else None


def content_free_variables(names: Sequence[str]) -> list[dict[str, str]]:
    """One variables mapping per content-free input, every variable set to it."""
    return [dict.fromkeys(names, filler) for filler in CONTENT_FREE]


def average_priors(distributions: Sequence[Mapping[str, float]], choices: Sequence[str]) -> dict[str, float]:
    """The mean label distribution over the probes, floored at ``MIN_PRIOR`` and renormalised."""
    if not distributions:
        raise ValueError("no label distribution to average: every probe failed")
    mean = {label: sum(d.get(label, 0.0) for d in distributions) / len(distributions) for label in choices}
    floored = {label: max(value, MIN_PRIOR) for label, value in mean.items()}
    total = sum(floored.values())
    return {label: value / total for label, value in floored.items()}


def estimate_priors(
    names: Sequence[str],
    choices: Sequence[str],
    call: Callable[[Mapping[str, str]], Mapping[str, float] | None],
) -> dict[str, float] | None:
    """The prompt's label prior: ``call`` renders the prompt with the variables given and returns the
    answer's label distribution (None when the model or the budget gave none). None when no probe gave
    one (the provider returns no log-probabilities, or the budget is spent)."""
    distributions = [d for d in (call(v) for v in content_free_variables(names)) if d]
    if not distributions:
        return None
    return average_priors(distributions, choices)
