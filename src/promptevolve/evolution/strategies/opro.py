"""``opro``: the optimizer model rewrites the instruction after seeing earlier ones with their scores.

As in OPRO (Yang et al., 2023): the meta-prompt lists earlier instructions of this run in increasing
order of score, shows a few input → answer examples from the train split, and asks for a new
instruction that scores higher, between ``<INS>`` and ``</INS>``. One optimizer call per proposal. A
reply without the tags, too short, code, or unchanged is unusable (discarded and counted).
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
    format_expected,
    show_inputs,
)

__all__ = ["OproRewrite"]

_SYSTEM = (
    "You write instructions for a language model. Reply with the new instruction only, between <INS> "
    "and </INS>."
)


class OproRewrite(Strategy):
    name = "opro"

    def __init__(self, *, history: int = 4, examples: int = 2, shown_chars: int = 1500) -> None:
        self._history, self._examples, self._shown = history, examples, shown_chars

    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        out = Proposals()
        user = self._meta_prompt(parent, evidence, rng)
        for _ in range(count):
            reply = proposer.ask(system=_SYSTEM, user=user, rng=rng)
            if reply is None:
                break
            text, why = clean_instruction(
                extract_tagged(reply, "INS"), old=parent.parts.instruction, max_chars=evidence.max_chars
            )
            if text is None:
                out += Proposals(unusable=(self.unusable(why, reply),))
                continue
            candidate = Candidate(
                parts=parent.parts.with_instruction(text),
                settings=parent.settings,
                strategy=self.name,
                rationale=f"instruction rewritten by {proposer.name} from "
                f"{len(evidence.history)} scored earlier ones",
                parent_key=parent.key,
            )
            out += Proposals((candidate,))
        return out

    def _meta_prompt(self, parent: Candidate, evidence: Evidence, rng: random.Random) -> str:
        history = sorted(evidence.history, key=lambda h: h[1])[-self._history :]
        if not any(c.key == parent.key for c, _ in history):
            history = [*history, (parent, next((s for c, s in evidence.history if c.key == parent.key), 0.0))]
        shown = "\n\n".join(
            f"Instruction:\n{c.parts.instruction[: self._shown] or '(none)'}\nScore: {round(100 * s)}"
            for c, s in sorted(history, key=lambda h: h[1])
        )
        labelled = [e for e in evidence.train if e.expected is not None]
        picks = rng.sample(labelled, min(self._examples, len(labelled)))
        examples = "\n".join(
            f"Input: {show_inputs(e.inputs, 300)}\nAnswer: {format_expected(e.expected)}" for e in picks
        )
        return (
            f"Task: {evidence.task}\n\n"
            f"Earlier instructions and their scores (higher is better):\n\n{shown}\n\n"
            f"Examples of the task:\n{examples}\n\nWrite a new instruction that scores higher than all of "
            "the above. Put it between <INS> and </INS>."
        )
