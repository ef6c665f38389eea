"""The evaluator contract: one output in, a score in [0, 1] and an explanation of the failure out.

An evaluator is configured in ``__init__`` (the expected format, a tolerance, a rubric's model) and
judges through one keyword-only method with the same signature in every subclass::

    evaluator.evaluate(output=..., expected=..., inputs=..., rubric=...) -> Evaluation

``expected`` is whatever the dataset item holds (a string, a number, a JSON object); ``inputs`` are the
template variables of the item and ``rubric`` its free-text rubric, both only read by evaluators that
need them (the LLM judge). Evaluators keep no state between calls, so one instance can score many
outputs from several threads.

``Evaluation.explanation`` is the text strategies read to learn from failures (a critique prompt quotes
it), so it names what was wrong in words a person or a model can act on ("size_band: expected '11-50',
got 51"). ``fields`` carries per-field scores where an evaluator has fields, and ``parsed`` is False when
the output could not be read at all (unparsable answers count as wrong and are reported, never dropped).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from promptevolve.core.errors import ConfigurationError

__all__ = ["Evaluation", "Evaluator", "clamp_score", "label_set", "require_expected"]


def clamp_score(value: float) -> float:
    """``value`` forced into [0, 1]; NaN counts as 0 (a broken metric must not look good)."""
    if math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, float(value)))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The verdict on one output: ``score`` in [0, 1], why it fell short, per-field scores if any."""

    score: float
    explanation: str | None = None
    fields: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    parsed: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "score", clamp_score(self.score))
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    @property
    def passed(self) -> bool:
        """A perfect score (what few-shot bootstrapping keeps as a demonstration)."""
        return self.score >= 1.0 - 1e-9


class Evaluator(abc.ABC):
    """Base of every evaluator; subclasses set ``name`` and implement ``evaluate``."""

    name: str = "evaluator"
    #: Whether ``evaluate`` calls a model (the judge): such an evaluator is never run for free baselines.
    calls_model: bool = False

    @abc.abstractmethod
    def evaluate(
        self,
        *,
        output: str,
        expected: Any = None,
        inputs: Mapping[str, Any] | None = None,
        rubric: str | None = None,
    ) -> Evaluation:
        """Judge one output; never raises for a bad output (that is a low score with an explanation)."""

    def describe(self) -> str:
        """One line for reports: the evaluator's name and configuration."""
        return self.name

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The closed set of accepted answers when the evaluator knows it (a classification task).

        Evolution reads it to balance demonstrations over the classes, to constrain a candidate's answers
        to the set (the ``choices`` setting) and to price the trivial baselines; ``None``: open answers.
        """
        return None


def label_set(labels: Any, choices: Any = None) -> tuple[str, ...] | None:
    """The ``labels`` (or ``choices``) option of an evaluator as distinct strings, in the order given."""
    given = labels if labels is not None else choices
    if given is None:
        return None
    if isinstance(given, str):
        given = [part for part in given.split(",")]
    values = tuple(dict.fromkeys(str(v).strip() for v in given if str(v).strip()))
    if len(values) < 2:
        raise ConfigurationError(f"labels must name at least two distinct answers, got {list(values)}")
    return values


def require_expected(name: str, expected: Any) -> None:
    """Evaluators that compare with a gold answer refuse items that have none."""
    if expected is None:
        raise ConfigurationError(
            f"evaluator {name!r} needs an expected answer on every item; this item has none "
            "(use the judge evaluator with a rubric for items without gold answers)"
        )
