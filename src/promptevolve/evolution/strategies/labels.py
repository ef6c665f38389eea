"""``labels``: constrain the answer to the task's label set, and ask for calibrated label choice.

A small model asked to classify often answers with anything but a label ("The sentiment is…", a copy of
the input): every such answer scores 0 and is unparsable. When the evaluator declares the labels (the
``labels`` option of ``exact`` or ``normalized``), this strategy proposes, with no model call:

* the parent with ``choices: [labels]``: the provider enforces the set (the local provider by grammar,
  OpenAI-compatible providers by structured output), so every answer is a label;
* the same with ``calibrate: true``: the provider corrects the model's prior for each label from token
  log-probabilities (contextual calibration, Zhao et al. 2021, "Calibrate Before Use"), where it returns
  them;
* the parent's instruction followed by the list of allowed answers ("Answer with exactly one of: …"),
  which helps providers that cannot enforce ``choices``; when the labels were only inferred from the
  gold answers, this is the only proposal (the ``choices`` setting needs the evaluator's word).

A constrained parent is also a **trivial baseline** of the gate (``baselines``): a candidate must beat
it, not just the unconstrained parent.
"""

from __future__ import annotations

import random

from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies.base import Evidence, Proposals, Strategy

__all__ = ["LabelSpace"]


class LabelSpace(Strategy):
    name = "labels"
    uses_model = False

    def propose(
        self,
        *,
        parent: Candidate,
        evidence: Evidence,
        proposer: Proposer,
        rng: random.Random,
        count: int,
    ) -> Proposals:
        labels = evidence.labels
        if not labels:
            return Proposals(unusable=(self.unusable("the task has no label set (not a classification)"),))
        shown = ", ".join(labels)
        listed = f"{parent.parts.instruction.rstrip()}\n\nAnswer with exactly one of: {shown}.".strip()
        options: list[tuple[dict[str, object], str | None, str]] = []
        if evidence.constrain and "choices" not in parent.settings.extra_params():
            options.append(({"choices": list(labels)}, None, f"answers constrained to the labels [{shown}]"))
            options.append(
                (
                    {"choices": list(labels), "calibrate": True},
                    None,
                    f"answers constrained to [{shown}] with label calibration",
                )
            )
        options.append(({}, listed, f"the instruction lists the allowed answers [{shown}]"))
        out: list[Candidate] = []
        for update, instruction, why in options[:count]:
            parts = parent.parts if instruction is None else parent.parts.with_instruction(instruction)
            settings = parent.settings.model_copy(update=update) if update else parent.settings
            candidate = Candidate(parts, settings, self.name, why, parent_key=parent.key)
            if candidate.key != parent.key:
                out.append(candidate)
        return Proposals(tuple(out))
