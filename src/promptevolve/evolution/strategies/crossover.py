"""``crossover``: combine two good variants (EvoPrompt, Guo et al., 2023).

Parents are two distinct strong candidates of the run (the pool, best first), drawn with the run's
generator. Two kinds of child:

* **structural** (no model call): the instruction of one parent with the demonstrations, form and
  settings of the other, the way genetic crossover swaps genes; proposed when the two differ in both;
* **written** (one optimizer call): the model reads both instructions and writes one that combines
  their strongest parts, between ``<INS>`` and ``</INS>``, applied to the better parent's structure.

With fewer than two scored variants in the pool there is nothing to cross: the proposal is unusable.
"""

from __future__ import annotations

import random
from dataclasses import replace

from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies.base import (
    Evidence,
    Proposals,
    Strategy,
    clean_instruction,
    extract_tagged,
)

__all__ = ["Crossover"]

_SYSTEM = (
    "You combine two instructions for a language model into a better one. Reply with the new instruction "
    "only, between <INS> and </INS>."
)


class Crossover(Strategy):
    name = "crossover"

    def __init__(self, *, shown_chars: int = 1200) -> None:
        self._shown = shown_chars

    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        pool = [c for c, _ in evidence.pool]
        if parent.key not in {c.key for c in pool}:
            pool = [parent, *pool]
        if len(pool) < 2:
            return Proposals(
                unusable=(self.unusable("crossover needs two scored variants; the run has one"),)
            )
        first, second = (pool[0], pool[1]) if len(pool) == 2 else tuple(rng.sample(pool[:4], 2))
        out = Proposals()
        structural = self._structural(first, second)
        if structural is not None:
            out += Proposals((structural,))
        for _ in range(max(0, count - len(out.candidates))):
            reply = proposer.ask(
                system=_SYSTEM,
                user=f"Task: {evidence.task}\n\nInstruction 1:\n{first.parts.instruction[: self._shown]}\n\n"
                f"Instruction 2:\n{second.parts.instruction[: self._shown]}\n\nCombine their strongest parts "
                "into one instruction between <INS> and </INS>.",
                rng=rng,
            )
            if reply is None:
                break
            text, why = clean_instruction(
                extract_tagged(reply, "INS"), old=first.parts.instruction, max_chars=evidence.max_chars
            )
            if text is None:
                out += Proposals(unusable=(self.unusable(why, reply),))
                continue
            out += Proposals(
                (
                    self._child(
                        first,
                        first.parts.with_instruction(text),
                        first,
                        f"instructions merged by {proposer.name}",
                    ),
                )
            )
        return out

    def _structural(self, a: Candidate, b: Candidate) -> Candidate | None:
        if a.parts.instruction == b.parts.instruction or a.parts.demos == b.parts.demos:
            return None
        if a.parts.query != b.parts.query:
            return None
        parts = replace(b.parts, instruction=a.parts.instruction)
        return self._child(
            a, parts, b, "instruction of one variant with the demonstrations and form of the other"
        )

    def _child(self, a: Candidate, parts: object, b: Candidate, why: str) -> Candidate:
        return Candidate(
            parts=parts,  # type: ignore[arg-type]
            settings=b.settings,
            strategy=self.name,
            rationale=f"crossover of {a.strategy} ({a.key[:8]}) and {b.strategy} ({b.key[:8]}): {why}",
            parent_key=a.key,
        )
