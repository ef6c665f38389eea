"""``role``: a sharper persona and task framing at the top of the instruction.

Two kinds of proposal:

* **framing** (no model call): a first paragraph that names the expert, the task (the prompt's
  description) and the discipline expected ("follow every rule; answer in the required format only");
* **persona** (one optimizer call each): the model writes one sentence starting "You are"; the reply is
  usable only if such a sentence of 20-300 characters is found. It replaces the instruction's own
  opening persona sentence if there is one, else it is prepended.
"""

from __future__ import annotations

import random
import re

from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies.base import Evidence, Proposals, Strategy

__all__ = ["RoleEnhancement"]

_PERSONA = re.compile(r"\b((?:You are|Vous êtes|Tu es)\b[^\n]{10,290}?[.!])", re.IGNORECASE)
_OPENING = re.compile(r"^\s*(?:You are|Vous êtes|Tu es)\b[^\n]*?[.!](\s+|$)", re.IGNORECASE)
_SYSTEM = "You write personas for prompts. Reply with one sentence that starts with 'You are'."


class RoleEnhancement(Strategy):
    name = "role"

    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        instruction = parent.parts.instruction
        framing = (
            f"You are a meticulous expert analyst. Your task: {evidence.task.rstrip('.')}. Read the input "
            "carefully, follow every rule exactly, and answer in the required format only, with nothing "
            "before or after it."
        )
        out = Proposals((self._candidate(parent, _replace_opening(instruction, framing), "task framing"),))
        for _ in range(max(0, count - 1)):
            reply = proposer.ask(
                system=_SYSTEM,
                user=f"Task: {evidence.task}\nWrite the persona of the ideal expert for this task.",
                rng=rng,
                max_tokens=80,
            )
            if reply is None:
                break
            match = _PERSONA.search(reply)
            if match is None:
                out += Proposals(unusable=(self.unusable("no 'You are …' sentence in the reply", reply),))
                continue
            persona = match.group(1).strip()
            new = _replace_opening(instruction, persona)
            out += Proposals(
                (self._candidate(parent, new, f"persona written by {proposer.name}: {persona}"),)
            )
        return out

    def _candidate(self, parent: Candidate, instruction: str, why: str) -> Candidate:
        return Candidate(
            parts=parent.parts.with_instruction(instruction),
            settings=parent.settings,
            strategy=self.name,
            rationale=f"sharper role and framing ({why[:200]})",
            parent_key=parent.key,
        )


def _replace_opening(instruction: str, opening: str) -> str:
    rest = _OPENING.sub("", instruction, count=1).lstrip() if _OPENING.match(instruction) else instruction
    return f"{opening}\n\n{rest}".strip()
