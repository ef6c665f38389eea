"""``critique``: the model reads failing cases, writes a critique, then edits the instruction.

ProTeGi's "textual gradient" (Pryzant et al., 2023), as GEPA uses it with evaluator feedback: first
call, the optimizer model sees the instruction and up to ``cases`` failing examples (input, the answer
given, the evaluator's explanation) and says what in the instruction caused them; second call, it
rewrites the instruction to fix that, between ``<INS>`` and ``</INS>``. Two optimizer calls per
proposal; a critique under 20 characters or an unusable rewrite is discarded and counted. Failing cases
are sampled from the worst ones with the run's generator, so proposals look at different failures.
"""

from __future__ import annotations

import random

from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies.base import (
    Evidence,
    Proposals,
    Strategy,
    clean_instruction,
    extract_tagged,
    show_inputs,
)

__all__ = ["CritiqueOfFailures"]

_CRITIC = "You review instructions for a language model and explain briefly why it made mistakes."
_EDITOR = (
    "You fix instructions for a language model. Reply with the improved instruction only, between <INS> "
    "and </INS>."
)


class CritiqueOfFailures(Strategy):
    name = "critique"

    def __init__(self, *, cases: int = 3, shown_chars: int = 1500) -> None:
        self._cases, self._shown = cases, shown_chars

    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        failures = list(evidence.failures[: self._cases * 3])
        if not failures:
            return Proposals(unusable=(self.unusable("the parent made no mistakes on the examples seen"),))
        instruction = parent.parts.instruction[: self._shown] or "(no instruction)"
        out = Proposals()
        for _ in range(count):
            picked = rng.sample(failures, min(self._cases, len(failures)))
            cases = "\n\n".join(
                f"Input: {show_inputs(f.example.inputs, 300)}\n"
                f"Answer given: {f.result.output.strip()[:200]}\n"
                f"What was wrong: {f.result.explanation}"
                for f in picked
            )
            critique = proposer.ask(
                system=_CRITIC,
                user=f"Instruction:\n{instruction}\n\nFailed cases:\n{cases}\n\n"
                "Why did the instruction fail?",
                rng=rng,
                max_tokens=160,
            )
            if critique is None:
                break
            if len(critique.strip()) < 20:
                out += Proposals(unusable=(self.unusable("the critique is empty", critique),))
                continue
            reply = proposer.ask(
                system=_EDITOR,
                user=f"Instruction:\n{instruction}\n\nProblems:\n{critique.strip()[:800]}\n\nWrite the fixed "
                "instruction between <INS> and </INS>.",
                rng=rng,
            )
            if reply is None:
                break
            text, why = clean_instruction(
                extract_tagged(reply, "INS"), old=parent.parts.instruction, max_chars=evidence.max_chars
            )
            if text is None:
                out += Proposals(unusable=(self.unusable(why, reply),))
                continue
            out += Proposals(
                (
                    Candidate(
                        parts=parent.parts.with_instruction(text),
                        settings=parent.settings,
                        strategy=self.name,
                        rationale=f"edited after a critique of {len(picked)} failures: "
                        f"{critique.strip()[:160]}",
                        parent_key=parent.key,
                    ),
                )
            )
        return out
