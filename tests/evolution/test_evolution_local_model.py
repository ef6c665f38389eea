"""Evolution with the real local model (SmolLM2-135M, greedy): seeded runs repeat exactly, and with
declared labels the test stage runs the trivial baselines and gives an honest verdict."""

import pytest

from promptevolve.core.types import ModelSettings
from promptevolve.evolution import (
    Budget,
    Candidate,
    SearchConfig,
    SearchData,
    create_strategy,
    parts_from_template,
    run_search,
)
from promptevolve.evolution.datasets import Example
from promptevolve.providers import LocalProvider
from promptevolve.scoring.evaluators import NormalizedMatch

REVIEWS = [
    ("I loved every minute of it", "positive"),
    ("A total waste of money", "negative"),
    ("The staff were kind and helpful", "positive"),
    ("It broke after two days", "negative"),
    ("Best purchase I made this year", "positive"),
    ("The food was cold and bland", "negative"),
    ("Wonderful views and a comfy bed", "positive"),
    ("I want a refund right now", "negative"),
    ("Fast delivery and great quality", "positive"),
    ("Terrible service, never again", "negative"),
    ("Absolutely delightful experience", "positive"),
    ("The screen cracked on day one", "negative"),
    ("My kids adore this game", "positive"),
    ("Rude driver and a dirty car", "negative"),
    ("Works perfectly, highly recommend", "positive"),
    ("Boring plot and bad acting", "negative"),
    ("A charming little hotel", "positive"),
    ("The app crashes constantly", "negative"),
    ("Great value for the price", "positive"),
    ("Noisy room and no hot water", "negative"),
]


def split(start: int, stop: int, name: str) -> tuple[Example, ...]:
    return tuple(
        Example(f"{name}-{i:02d}", name, {"review": text}, label)
        for i, (text, label) in enumerate(REVIEWS[start:stop])
    )


DATA = SearchData(
    split(0, 8, "train"), split(8, 12, "validation"), split(12, 20, "test"), "sentiment of a review"
)
PARENT = Candidate(
    parts_from_template(
        [
            {
                "role": "user",
                "content": "Classify the sentiment of: '{{ review }}'. Answer positive or negative.",
            }
        ]
    ),
    ModelSettings(max_tokens=5, temperature=0.0, seed=0),
    "baseline",
    "",
)


@pytest.fixture(scope="module")
def local() -> LocalProvider:
    return LocalProvider()


def run(local: LocalProvider):
    config = SearchConfig(
        strategies=(create_strategy("few_shot"),),
        budget=Budget(max_calls=60),
        seed=11,
        minibatch=4,
        finalists=1,
    )
    return run_search(
        parent=PARENT, data=DATA, config=config, evaluator=NormalizedMatch(contains=True), provider=local
    )


@pytest.mark.slow
def test_seeded_run_with_the_local_model_repeats_exactly(local):
    first, second = run(local), run(local)
    assert first.spend.calls == second.spend.calls <= 60
    assert [r.output for r in first.parent_test] == [r.output for r in second.parent_test]
    assert (first.winner is None) == (second.winner is None)
    assert [c.candidate.key for c in first.candidates] == [c.candidate.key for c in second.candidates]
    assert [c.train_score for c in first.candidates] == [c.train_score for c in second.candidates]
    # Since demos are class-balanced and demo orders compete on the rungs (issue 11), 60 calls no
    # longer reach a finalist that beats the parent on this probe (the earlier winner showed 4 demos of
    # mixed classes in one order); the run must still repeat exactly, winner or not.
    if first.winner is not None:
        assert first.winner.key == second.winner.key
        assert [r.output for r in first.winner_test] == [r.output for r in second.winner_test]
        assert first.gate is not None and first.gate.improvement == second.gate.improvement


@pytest.mark.slow
def test_with_the_local_model_labels_retrieval_and_baselines_give_an_honest_verdict(local):
    """Declared labels with the real model: the candidates answer within the label set (``choices``
    enforced by the local provider's grammar), retrieval demos are picked per item, the test stage runs
    the trivial baselines beside the parent, and the verdict is one the gate defines."""
    config = SearchConfig(
        strategies=(create_strategy("retrieval", indexes=("bm25",)), create_strategy("labels")),
        budget=Budget(max_calls=50),
        seed=3,
        minibatch=4,
        finalists=1,
    )
    evaluator = NormalizedMatch(labels=["positive", "negative"])
    result = run_search(parent=PARENT, data=DATA, config=config, evaluator=evaluator, provider=local)
    assert result.spend.calls <= 50 and result.labels == ("positive", "negative")
    constrained = [c for c in result.candidates if "choices" in c.candidate.settings.extra_params()]
    assert constrained and any(c.candidate.strategy == "retrieval" for c in constrained)
    if result.winner is not None:
        names = {b.name for b in result.test.baselines}
        assert {"majority class", "parent constrained to the labels"} <= names
        assert result.verdict in ("passed", "format_only", "rejected")
        bounded = next(b for b in result.test.baselines if b.name == "parent constrained to the labels")
        assert all(r.output.strip() in ("positive", "negative") for r in bounded.results)
