"""Label-space answers: constraining a model to a fixed set of choices, and reading label probabilities.

A classification prompt whose evaluator knows the label set can say so in its settings:

* ``choices``: the allowed answers (extra key of ``ModelSettings``, a list of non-empty strings). The
  local provider enforces it with a grammar (the answer is always one of them, with no extra text); an
  OpenAI-compatible provider with a JSON schema whose one field is an ``enum`` of the choices, unwrapped
  back into the bare label.
* ``label_priors``: the model's bias towards each label on content-free input, estimated once (see
  ``promptevolve.evolution.calibration``). Where the provider returns log-probabilities, the answer is the
  label with the largest ``p(label | prompt) / prior(label)``: contextual calibration (Zhao et al. 2021,
  "Calibrate Before Use"), which undoes a small model's habit of answering the same label whatever the
  input.

A label's probability is read from the first answer token: the top log-probabilities are summed over the
tokens that start the label (case and surrounding spaces ignored: " Positive" and "positive" both count
for ``positive``), then normalised over the labels. This needs labels whose first tokens differ, which
``first_tokens_distinct`` checks on the tokens actually seen; the provider falls back to the grammar's
answer when they do not. Everything here is pure: no model, no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from promptevolve.core.errors import ConfigurationError

__all__ = [
    "calibrated_choice",
    "choice_grammar",
    "choices_from_settings",
    "label_distribution",
    "priors_from_settings",
]


def choices_from_settings(extra: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The ``choices`` extra setting, validated; ``None`` when absent."""
    raw = extra.get("choices")
    if raw is None:
        return None
    if isinstance(raw, str) or not isinstance(raw, Sequence) or len(raw) < 2:
        raise ConfigurationError(f"choices must be a list of at least two answers, got {raw!r}")
    labels = tuple(raw)
    if not all(isinstance(label, str) and label.strip() for label in labels):
        raise ConfigurationError(f"choices must be non-empty strings, got {list(labels)!r}")
    if len({label.strip().casefold() for label in labels}) != len(labels):
        raise ConfigurationError(f"choices must differ (ignoring case and spaces), got {list(labels)!r}")
    return labels


def priors_from_settings(extra: Mapping[str, Any], choices: Sequence[str]) -> dict[str, float] | None:
    """The ``label_priors`` extra setting, validated against ``choices``; ``None`` when absent."""
    raw = extra.get("label_priors")
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != set(choices):
        raise ConfigurationError(
            f"label_priors must give a probability for each of the choices {list(choices)!r}, got {raw!r}"
        )
    priors: dict[str, float] = {}
    for label, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value <= 1.0:
            raise ConfigurationError(f"label_priors[{label!r}] must be in (0, 1], got {value!r}")
        priors[label] = float(value)
    return priors


def choice_grammar(choices: Iterable[str]) -> str:
    """A GBNF grammar whose only sentences are the choices, each optionally after one space.

    The optional space matters for completion prompts ("Sentiment: positive"), where the model's most
    likely next token carries the space; the provider strips it from the answer.
    """
    alternatives = " | ".join(json.dumps(label.strip(), ensure_ascii=False) for label in choices)
    return f'root ::= " "? ({alternatives})'


def _norm(text: str) -> str:
    return text.strip().casefold()


def label_distribution(
    top_logprobs: Iterable[tuple[str, float]], choices: Sequence[str]
) -> dict[str, float] | None:
    """Each choice's probability from the first answer token's top log-probabilities, normalised.

    ``None`` when no listed token starts any choice (the label cannot be read from this token), or when
    one token starts two choices (their first tokens are not distinct, so the token cannot tell them
    apart).
    """
    mass = dict.fromkeys(choices, 0.0)
    normalised = {label: _norm(label) for label in choices}
    for token, logprob in top_logprobs:
        piece = _norm(token)
        if not piece:
            continue
        matches = [label for label, norm in normalised.items() if norm.startswith(piece)]
        if len(matches) > 1:
            return None
        if matches:
            mass[matches[0]] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        return None
    return {label: value / total for label, value in mass.items()}


def calibrated_choice(distribution: Mapping[str, float], priors: Mapping[str, float] | None) -> str:
    """The label with the largest ``p / prior`` (plain ``p`` without priors); ties go to the first."""
    if priors is None:
        return max(distribution, key=lambda label: distribution[label])
    return max(distribution, key=lambda label: distribution[label] / priors[label])
