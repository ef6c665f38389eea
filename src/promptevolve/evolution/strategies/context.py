"""``context``: definitions, constraints, output format and edge cases learnt from failures.

From the evaluator's explanations of the parent's failures (``"size_band: expected \\"11-50\\", got
51"``), it counts which aspects fail most and writes a section the model reads before answering:

* **output format** (no model call): when gold answers are JSON objects, the exact keys and one correct
  answer from the train split as a format example;
* **mistakes seen** (no model call): the most frequent failing aspects, each with one concrete
  expected-versus-given case, phrased as rules to follow;
* **rules written by the model** (one optimizer call each): the model reads the failures and writes up
  to four short rules as "- " lines; the reply is usable only if at least one such line of 15-300
  characters is found.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies.base import (
    Evidence,
    Proposals,
    Strategy,
    format_expected,
    show_inputs,
)

__all__ = ["ContextExpansion"]

_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.{15,300})$", re.MULTILINE)
_SYSTEM = (
    "You improve instructions for a language model. Read the mistakes and reply with up to four short "
    "rules, one per line, each starting with '- '."
)


class ContextExpansion(Strategy):
    name = "context"

    def __init__(self, *, max_mistakes: int = 5) -> None:
        self._max_mistakes = max_mistakes

    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        sections = [s for s in (self._format_section(evidence), self._mistakes_section(evidence)) if s]
        out = Proposals()
        if sections:
            out += Proposals(
                (self._candidate(parent, "\n\n".join(sections), "output format and mistakes seen"),)
            )
        else:
            out += Proposals(unusable=(self.unusable("no failures with explanations and no JSON answers"),))
        for _ in range(max(0, count - len(out.candidates))):
            failures = evidence.failures[:4]
            if not failures:
                break
            cases = "\n".join(
                f"Input: {show_inputs(f.example.inputs, 300)}\nProblem: {f.result.explanation}"
                for f in failures
            )
            reply = proposer.ask(system=_SYSTEM, user=f"Task: {evidence.task}\n\nMistakes:\n{cases}", rng=rng)
            if reply is None:
                break
            rules = [m.group(1).strip() for m in _BULLET.finditer(reply)][:4]
            if not rules:
                out += Proposals(unusable=(self.unusable("no '- rule' lines in the reply", reply),))
                continue
            section = "Rules learnt from earlier mistakes:\n" + "\n".join(f"- {r}" for r in rules)
            out += Proposals((self._candidate(parent, section, f"rules written by {proposer.name}"),))
        return out

    def _candidate(self, parent: Candidate, section: str, why: str) -> Candidate:
        instruction = f"{parent.parts.instruction.rstrip()}\n\n{section}".strip()
        return Candidate(
            parts=parent.parts.with_instruction(instruction),
            settings=parent.settings,
            strategy=self.name,
            rationale=f"context expansion: {why}",
            parent_key=parent.key,
        )

    @staticmethod
    def _format_section(evidence: Evidence) -> str | None:
        example = next((e for e in evidence.train if isinstance(e.expected, dict)), None)
        if example is None:
            return None
        keys = ", ".join(f'"{k}"' for k in example.expected)
        return (
            f"Output format: one JSON object on one line with exactly the keys {keys}, and nothing else. "
            f"Example of a correct answer: {format_expected(example.expected)}"
        )

    def _mistakes_section(self, evidence: Evidence) -> str | None:
        aspects: Counter[str] = Counter()
        example_of: dict[str, str] = {}
        for failure in evidence.failures:
            for clause in (failure.result.explanation or "").split("; "):
                aspect = clause.split(":", 1)[0].strip()[:60]
                if not aspect or len(clause) > 240:
                    continue
                aspects[aspect] += 1
                example_of.setdefault(aspect, clause)
        if not aspects:
            return None
        lines = [
            f"- {aspect} was wrong in {n} of {len(evidence.scored)} checked answers "
            f"(e.g. {example_of[aspect]}): "
            f"get {aspect} exactly right."
            for aspect, n in aspects.most_common(self._max_mistakes)
        ]
        return "Mistakes to avoid (seen when this prompt was tested):\n" + "\n".join(lines)
