"""Contextual calibration in the labels strategy: priors measured by the task model on content-free input."""

from __future__ import annotations

import random

import pytest

from promptevolve.core.types import ModelSettings
from promptevolve.evolution import Budget, BudgetMeter, Candidate, parts_from_template
from promptevolve.evolution.calibration import MIN_PRIOR, average_priors, label_set
from promptevolve.evolution.datasets import Example
from promptevolve.evolution.runner import CandidateRunner, Proposer
from promptevolve.evolution.strategies import Evidence
from promptevolve.evolution.strategies.labels import LabelSpace
from promptevolve.providers import LocalProvider, ScriptedProvider
from promptevolve.scoring.evaluators import create_evaluator

SENTIMENT = (
    "Review: The food was delicious.\nSentiment: positive\n\n"
    "Review: Loved the staff.\nSentiment: positive\n\n"
    "Review: Best concert in years!\nSentiment: positive\n\n"
    "Review: Cold soup, rude waiter.\nSentiment: negative\n\n"
    "Review: {{ review }}\nSentiment:"
)
REVIEWS = [("I loved it.", "positive"), ("It broke at once.", "negative"), ("Superb.", "positive")]
TRAIN = tuple(Example(f"t{i}", "train", {"review": r}, label) for i, (r, label) in enumerate(REVIEWS))


def _propose(parent: Candidate, train: tuple[Example, ...], proposer: Proposer, count: int = 2):
    labels = label_set(e.expected for e in train)
    evidence = Evidence(task="sentiment", evaluator="exact", train=train, labels=labels, constrain=True)
    return LabelSpace().propose(
        parent=parent, evidence=evidence, proposer=proposer, rng=random.Random(0), count=count
    )


def _scripted_proposer() -> Proposer:
    return Proposer(provider=ScriptedProvider(lambda p, s: "x"), meter=BudgetMeter(Budget(max_calls=10)))


def test_label_sets_are_few_short_strings_and_nothing_else() -> None:
    assert label_set(["b", "a", "b", 1]) == ("1", "a", "b")
    assert label_set(["only"]) is None
    assert label_set([{"industry": "x"}, {"industry": "y"}]) is None
    assert label_set([f"label {i}" for i in range(20)]) is None
    assert label_set(["a long answer\nwith lines", "b"]) is None


def test_priors_are_floored_and_normalised() -> None:
    priors = average_priors([{"a": 1.0, "b": 0.0}, {"a": 0.8, "b": 0.2}], ["a", "b"])

    assert priors["b"] >= MIN_PRIOR / (1 + MIN_PRIOR)
    assert abs(sum(priors.values()) - 1.0) < 1e-12
    assert priors["a"] > priors["b"]


def test_without_label_probabilities_only_the_constrained_child_is_proposed_and_the_rest_counted() -> None:
    parent = Candidate(parts_from_template(SENTIMENT), ModelSettings(), "baseline", "")

    proposals = _propose(parent, TRAIN, _scripted_proposer())

    assert [c.settings.extra_params()["choices"] for c in proposals.candidates] == [["negative", "positive"]]
    assert "label_priors" not in proposals.candidates[0].settings.extra_params()
    assert proposals.unusable and "nothing to calibrate" in proposals.unusable[0].reason


@pytest.mark.slow
def test_the_local_model_gives_a_calibrated_child_whose_prior_measures_the_prompts_bias() -> None:
    provider = LocalProvider(n_threads=1)
    meter = BudgetMeter(Budget(max_calls=10))
    runner = CandidateRunner(provider=provider, evaluator=create_evaluator("exact"), meter=meter)
    proposer = Proposer(provider=provider, meter=meter, task=runner)
    parent = Candidate(parts_from_template(SENTIMENT), ModelSettings(max_tokens=4), "baseline", "")

    proposals = _propose(parent, TRAIN, proposer)

    constrained, calibrated = proposals.candidates
    assert constrained.settings.extra_params()["choices"] == ["negative", "positive"]
    priors = calibrated.settings.extra_params()["label_priors"]
    assert set(priors) == {"negative", "positive"}
    assert abs(sum(priors.values()) - 1.0) < 1e-9
    assert meter.spend().calls == 3  # one probe per content-free input, charged to the budget
    # Three of four demonstrations say positive but the last says negative: on content-free input the
    # model follows the last one (the recency bias Zhao et al. report), and the prior measures it.
    assert priors["negative"] > 0.8
