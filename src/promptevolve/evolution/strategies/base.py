"""The strategy contract: a parent candidate and evidence in, new candidates with a rationale out.

Every strategy is one module, one subclass of ``Strategy``, configured in ``__init__`` and run through
one keyword-only method with the same signature everywhere::

    strategy.propose(parent=..., evidence=..., proposer=..., rng=..., count=...) -> Proposals

It returns new values and keeps no run state on ``self``: the search may call it many times, from one
run or several. ``proposer`` is the optimizer model (strategies that need no model ignore it); ``rng`` is
the run's seeded generator, the only source of randomness. A reply the strategy cannot use (chatter,
code, a missing tag, a template that breaks) becomes an ``Unusable`` entry with the raw reply, never an
exception: a 135M model fails often, and the search goes on with the other proposals.

The search checks every candidate again (variables intact, renders, length limit) before spending on it.
"""

from __future__ import annotations

import abc
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from promptevolve.core.errors import TemplateError
from promptevolve.evolution.candidates import Candidate, ItemResult, Unusable
from promptevolve.evolution.datasets import Example
from promptevolve.evolution.parts import Demo
from promptevolve.evolution.runner import Proposer
from promptevolve.templates import parse_template

__all__ = [
    "Evidence",
    "Proposals",
    "ScoredExample",
    "Strategy",
    "clean_instruction",
    "extract_tagged",
    "format_expected",
    "show_inputs",
]


@dataclass(frozen=True, slots=True)
class ScoredExample:
    example: Example
    result: ItemResult


@dataclass(frozen=True, slots=True)
class Evidence:
    """What strategies learn from: the parent's scored examples, demos, history and strong variants."""

    task: str
    evaluator: str
    scored: tuple[ScoredExample, ...] = ()
    demos: tuple[Demo, ...] = ()
    train: tuple[Example, ...] = ()
    history: tuple[tuple[Candidate, float], ...] = ()
    pool: tuple[tuple[Candidate, float], ...] = ()
    max_chars: int = 12_000
    #: The task's label set when it is a classification (the evaluator's, else inferred from gold answers).
    labels: tuple[str, ...] | None = None
    #: Whether the evaluator itself declares the labels: only then may a candidate set ``choices``.
    constrain: bool = False

    @property
    def failures(self) -> tuple[ScoredExample, ...]:
        """The parent's imperfect answers, worst first."""
        return tuple(sorted((s for s in self.scored if s.result.score < 1.0), key=lambda s: s.result.score))

    @property
    def successes(self) -> tuple[ScoredExample, ...]:
        return tuple(s for s in self.scored if s.result.score >= 1.0)


@dataclass(frozen=True, slots=True)
class Proposals:
    candidates: tuple[Candidate, ...] = ()
    unusable: tuple[Unusable, ...] = field(default=())

    def __add__(self, other: Proposals) -> Proposals:
        return Proposals(self.candidates + other.candidates, self.unusable + other.unusable)


class Strategy(abc.ABC):
    """Base of every strategy; subclasses set ``name`` and implement ``propose``."""

    name: ClassVar[str] = "strategy"
    #: Whether ``propose`` calls the optimizer model (the search budgets for it).
    uses_model: ClassVar[bool] = True

    @abc.abstractmethod
    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        """Up to ``count`` candidates derived from ``parent`` (fewer when replies are unusable)."""

    def unusable(self, reason: str, raw: str = "") -> Unusable:
        return Unusable(self.name, reason, raw[:2000])


_TAG = "<{0}>(.*?)</{0}>"
_CODE = re.compile(r"```|^\s*(def |import |class |#include|function )", re.MULTILINE)


def extract_tagged(reply: str, tag: str) -> str | None:
    """The text between ``<tag>`` and ``</tag>`` (case-insensitive), or None."""
    match = re.search(_TAG.format(re.escape(tag)), reply, re.IGNORECASE | re.DOTALL)
    return match.group(1).strip() if match else None


def clean_instruction(text: str | None, *, old: str, max_chars: int) -> tuple[str | None, str]:
    """(the instruction, "") when it is usable as a prompt instruction, else (None, why not)."""
    if text is None:
        return None, "no <INS>…</INS> block in the reply"
    text = text.strip().strip('"').strip()
    if len(text) < 30:
        return None, f"instruction too short ({len(text)} characters)"
    if len(text) > max_chars:
        return None, f"instruction too long ({len(text)} characters)"
    if _CODE.search(text):
        return None, "the reply is code, not an instruction"
    if text == old.strip():
        return None, "the instruction is unchanged"
    try:
        parse_template(text)
    except TemplateError as exc:
        return None, f"the instruction is not a valid template: {exc}"
    return text, ""


def format_expected(expected: Any) -> str:
    """A gold answer as the model should write it: compact JSON for objects and lists, else text."""
    if isinstance(expected, dict | list):
        return json.dumps(expected, ensure_ascii=False)
    return str(expected)


def show_inputs(inputs: Mapping[str, Any], limit: int = 400) -> str:
    text = "; ".join(f"{k}: {v}" for k, v in inputs.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"
