"""``labels``: constrain the answer to the task's label set, and ask for calibrated label choice.

A small model asked to classify often answers with anything but a label ("The sentiment is…", a copy of
the input): every such answer scores 0 and is unparsable. When the evaluator declares the labels (the
``labels`` option of ``exact`` or ``normalized``), this strategy proposes, with no model call:

* the parent with ``choices: [labels]``: the provider enforces the set (the local provider by grammar,
  OpenAI-compatible providers by structured output), so every answer is a label;
* the same with ``label_priors``: the label distribution the *task* model gives this prompt on
  content-free inputs ("N/A", "", "[MASK]"; three calls, charged to the budget), by which the provider
  divides every answer's label probabilities (contextual calibration, Zhao et al. 2021, "Calibrate
  Before Use"; ``evolution.calibration``). It undoes a prompt that makes the model say one label
  whatever the input (measured: a last demonstration saying "negative" gave a prior of 0.93 for it).
  Where the provider returns no label probabilities, this proposal is counted as unusable;
* the parent's instruction followed by the list of allowed answers ("Answer with exactly one of: …"),
  which helps providers that cannot enforce ``choices``; when the labels were only inferred from the
  gold answers, this is the only proposal (the ``choices`` setting needs the evaluator's word).

A constrained parent is also a **trivial baseline** of the gate (``baselines``): a candidate must beat
it, not just the unconstrained parent.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from promptevolve.core.types import ModelSettings
from promptevolve.evolution.calibration import estimate_priors
from promptevolve.evolution.candidates import Candidate
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies.base import Evidence, Proposals, Strategy

__all__ = ["LabelSpace"]


class LabelSpace(Strategy):
    name = "labels"
    #: Only the calibration probes call a model (the task model, through ``Proposer.probe_labels``).
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
        constrained: dict[str, object] = {"choices": list(labels)}
        options: list[tuple[dict[str, object], str | None, str]] = []
        if evidence.constrain and "choices" not in parent.settings.extra_params():
            options.append((constrained, None, f"answers constrained to the labels [{shown}]"))
            options.append((constrained, None, _CALIBRATE))
        options.append(({}, listed, f"the instruction lists the allowed answers [{shown}]"))
        out: list[Candidate] = []
        unusable = []
        for update, instruction, why in options[:count]:
            parts = parent.parts if instruction is None else parent.parts.with_instruction(instruction)
            settings = _with(parent.settings, update) if update else parent.settings
            candidate = Candidate(parts, settings, self.name, why, parent_key=parent.key)
            if why is _CALIBRATE:
                calibrated, reason = _calibrated(candidate, labels, evidence, proposer)
                if calibrated is None:
                    unusable.append(self.unusable(reason))
                    continue
                candidate = calibrated
            if candidate.key != parent.key:
                out.append(candidate)
        return Proposals(tuple(out), tuple(unusable))


_CALIBRATE = "calibrate"


def _with(settings: ModelSettings, update: Mapping[str, object]) -> ModelSettings:
    """The settings with extra keys set (``model_copy`` would not validate them)."""
    return ModelSettings.model_validate({**settings.model_dump(), **update})


def _calibrated(
    constrained: Candidate, labels: tuple[str, ...], evidence: Evidence, proposer: Proposer
) -> tuple[Candidate | None, str]:
    """The constrained candidate with its measured label priors, or (None, why not)."""
    if not evidence.train:
        return None, "no training item to take the prompt's variables from"
    names = sorted(evidence.train[0].inputs)
    priors = estimate_priors(names, labels, lambda variables: proposer.probe_labels(constrained, variables))
    if priors is None:
        return None, "no label probabilities from the task model (or no budget): nothing to calibrate"
    shown = ", ".join(f"{label} {p:.2f}" for label, p in priors.items())
    settings = _with(constrained.settings, {"label_priors": priors})
    why = f"answers constrained to the labels, calibrated against the prompt's bias ({shown})"
    return Candidate(constrained.parts, settings, constrained.strategy, why, constrained.parent_key), ""
