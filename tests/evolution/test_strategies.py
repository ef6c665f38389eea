import random

import pytest
from tests.evolution.support import TEMPLATE, examples, smart_reply

from promptevolve.core.types import ModelSettings
from promptevolve.evolution import Budget, BudgetMeter, Candidate, create_strategy, parts_from_template
from promptevolve.evolution.candidates import ItemResult
from promptevolve.evolution.datasets import Example
from promptevolve.evolution.parts import check_candidate
from promptevolve.evolution.runner import Proposer
from promptevolve.evolution.strategies import (
    BUILTIN_STRATEGIES,
    CLASSIFICATION_STRATEGIES,
    DEFAULT_STRATEGIES,
    Evidence,
    ScoredExample,
    default_strategies,
)
from promptevolve.providers import ScriptedProvider
from promptevolve.templates import parse_template, render

PARENT = Candidate(parts_from_template(TEMPLATE), ModelSettings(max_tokens=20), "baseline", "")
TRAIN = examples(8, "train")


def evidence(
    pool: tuple = (), *, labels: tuple | None = ("warm", "cold"), constrain: bool = True
) -> Evidence:
    scored = tuple(
        ScoredExample(
            e,
            ItemResult(
                e.key,
                1.0 if i % 3 == 0 else 0.0,
                e.expected if i % 3 == 0 else "warm",
                None if i % 3 == 0 else f"expected {e.expected!r}, got 'warm'",
                True,
            ),
        )
        for i, e in enumerate(TRAIN)
    )
    return Evidence(
        task="classify colours as warm or cold",
        evaluator="exact",
        scored=scored,
        train=TRAIN,
        history=((PARENT, 0.4),),
        pool=pool,
        labels=labels,
        constrain=constrain,
    )


def proposer(reply=smart_reply) -> Proposer:
    return Proposer(provider=ScriptedProvider(reply), meter=BudgetMeter(Budget(max_calls=100)))


@pytest.mark.parametrize("name", sorted(BUILTIN_STRATEGIES))
def test_each_strategy_proposes_variants_that_keep_variables_and_render(name):
    other = Candidate(
        PARENT.parts.with_instruction("Warm or cold?").with_demos(()), PARENT.settings, "role", ""
    )
    other = (
        Candidate(
            create_strategy("few_shot")
            .propose(parent=PARENT, evidence=evidence(), proposer=proposer(), rng=random.Random(1), count=1)
            .candidates[0]
            .parts,
            PARENT.settings,
            "few_shot",
            "",
        )
        if name == "crossover"
        else other
    )
    proposals = create_strategy(name).propose(
        parent=PARENT,
        evidence=evidence(((PARENT, 0.4), (other, 0.6))),
        proposer=proposer(),
        rng=random.Random(0),
        count=2,
    )
    assert proposals.candidates, proposals.unusable
    for candidate in proposals.candidates:
        parsed, why = check_candidate(
            candidate.parts,
            candidate.settings,
            variables=("colour",),
            sample_inputs={"colour": "red"},
            max_chars=10_000,
        )
        assert why is None, why
        assert parsed.variables == ("colour",)
        assert "red" in render(parse_template(candidate.template), {"colour": "red"}).prompt.as_text()
        assert candidate.strategy == name and candidate.rationale and candidate.parent_key == PARENT.key
        assert candidate.key != PARENT.key


@pytest.mark.parametrize("name", ["opro", "critique", "context", "role", "crossover"])
def test_unusable_replies_are_discarded_and_counted_never_raised(name):
    chatter = proposer(lambda p, s: "```python\nprint('hello')\n```")
    proposals = create_strategy(name).propose(
        parent=PARENT, evidence=evidence(), proposer=chatter, rng=random.Random(0), count=3
    )
    assert proposals.unusable
    assert all(u.strategy == name and u.reason for u in proposals.unusable)


def test_few_shot_demos_escape_template_syntax_from_the_data():
    trap = examples(1, "train")[0]
    trap = type(trap)(trap.key, "train", {"colour": "{{ secret }} red"}, "{% if x %}warm{% endif %}")
    ev = Evidence(task="t", evaluator="exact", train=(trap,))
    candidate = (
        create_strategy("few_shot")
        .propose(parent=PARENT, evidence=ev, proposer=proposer(), rng=random.Random(0), count=1)
        .candidates[0]
    )
    parsed = parse_template(candidate.template)
    assert parsed.variables == ("colour",)
    assert "{{ secret }} red" in render(parsed, {"colour": "blue"}).prompt.as_text()


def test_strategies_keep_no_run_state():
    strategy = create_strategy("few_shot")
    before = dict(vars(strategy))
    strategy.propose(parent=PARENT, evidence=evidence(), proposer=proposer(), rng=random.Random(0), count=3)
    assert vars(strategy) == before


def test_few_shot_shrinks_max_tokens_to_its_demos_unless_a_json_schema_bounds_the_answer():
    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    wide = ModelSettings(max_tokens=400)
    for settings, expected in ((wide, None), (wide.model_copy(update={"json_schema": schema}), 400)):
        parent = Candidate(PARENT.parts, settings, "baseline", "")
        proposals = create_strategy("few_shot").propose(
            parent=parent, evidence=evidence(), proposer=proposer(), rng=random.Random(0), count=3
        )
        assert proposals.candidates
        for candidate in proposals.candidates:
            if expected is None:
                assert candidate.settings.max_tokens < 400, "short demos make a short answer"
            else:
                assert candidate.settings.max_tokens == expected
                assert candidate.settings.extra_params()["json_schema"] == schema


def _binary(n_one: int, n_zero: int) -> tuple[Example, ...]:
    items = [("1", f"good {i}") for i in range(n_one)] + [("0", f"bad {i}") for i in range(n_zero)]
    return tuple(
        Example(f"t{i:02d}", "train", {"colour": text}, label) for i, (label, text) in enumerate(items)
    )


@pytest.mark.parametrize("seed", range(6))
def test_few_shot_demos_are_balanced_over_the_labels_even_when_one_class_dominates(seed):
    train = _binary(9, 3)
    # the model got only "1" items right: bootstrapped demos of one class are the best-ranked ones
    scored = tuple(
        ScoredExample(e, ItemResult(e.key, 1.0 if e.expected == "1" else 0.0, "1", None, True)) for e in train
    )
    ev = Evidence(task="t", evaluator="exact", scored=scored, train=train, labels=("0", "1"), constrain=True)
    proposals = create_strategy("few_shot").propose(
        parent=PARENT, evidence=ev, proposer=proposer(), rng=random.Random(seed), count=3
    )
    for candidate in proposals.candidates:
        shown = [d.output for d in candidate.parts.demos]
        assert sorted(shown) == ["0", "0", "1", "1"], shown
        assert shown[-1] != shown[-2], "interleaved: the last two demos are of different classes"
        assert candidate.settings.extra_params()["choices"] == ["0", "1"]


def test_few_shot_without_a_label_set_keeps_open_answers_and_sets_no_choices():
    ev = evidence(labels=None, constrain=False)
    proposals = create_strategy("few_shot").propose(
        parent=PARENT, evidence=ev, proposer=proposer(), rng=random.Random(0), count=3
    )
    assert proposals.candidates
    assert all("choices" not in c.settings.extra_params() for c in proposals.candidates)


def test_labels_strategy_sets_choices_and_calibrates_only_when_the_evaluator_declares_the_labels():
    declared = create_strategy("labels").propose(
        parent=PARENT, evidence=evidence(), proposer=proposer(), rng=random.Random(0), count=3
    )
    extras = [c.settings.extra_params() for c in declared.candidates]
    assert {"choices": ["warm", "cold"]} in extras
    # The scripted proposer has no task model to probe: the calibrated proposal is counted, not made
    # (tests/evolution/test_label_calibration.py measures real priors with the local model).
    assert not any("label_priors" in e for e in extras)
    assert any("nothing to calibrate" in u.reason for u in declared.unusable)
    assert any("exactly one of: warm, cold" in c.parts.instruction for c in declared.candidates)
    inferred = create_strategy("labels").propose(
        parent=PARENT, evidence=evidence(constrain=False), proposer=proposer(), rng=random.Random(0), count=3
    )
    assert [c.settings.extra_params() for c in inferred.candidates] == [{}]
    none = create_strategy("labels").propose(
        parent=PARENT, evidence=evidence(labels=None), proposer=proposer(), rng=random.Random(0), count=3
    )
    assert not none.candidates and "no label set" in none.unusable[0].reason


def test_retrieval_candidates_carry_their_pool_and_k_and_mark_where_the_demos_go():
    from promptevolve.templates import MARKER, RetrievalSpec

    proposals = create_strategy("retrieval", k=3, indexes=("bm25",)).propose(
        parent=PARENT, evidence=evidence(), proposer=proposer(), rng=random.Random(0), count=2
    )
    assert len(proposals.candidates) == 2  # with and without the parent's instruction
    for candidate in proposals.candidates:
        spec = RetrievalSpec.from_settings(candidate.settings)
        assert spec is not None and spec.k == 3 and spec.index == "bm25"
        assert {d.key for d in spec.pool} == {e.key for e in TRAIN}  # train only: never a test item
        assert MARKER in candidate.template and candidate.parts.retrieve
        assert candidate.settings.extra_params()["choices"] == ["warm", "cold"]
    few = create_strategy("retrieval", k=8).propose(
        parent=PARENT, evidence=evidence(), proposer=proposer(), rng=random.Random(0), count=2
    )
    assert not few.candidates and "too few" in few.unusable[0].reason


def test_the_default_strategies_are_the_label_ones_only_when_the_evaluator_declares_labels():
    assert (
        default_strategies(("spam", "ham"))
        == CLASSIFICATION_STRATEGIES
        == ("labels", "few_shot", "retrieval")
    )
    assert default_strategies(None) == DEFAULT_STRATEGIES
    assert default_strategies(()) == DEFAULT_STRATEGIES
    assert all(not create_strategy(name).uses_model for name in CLASSIFICATION_STRATEGIES)


def test_retrieval_explores_other_indexes_and_k_instead_of_proposing_the_same_again():
    from dataclasses import replace

    from promptevolve.templates import RetrievalSpec

    strategy = create_strategy("retrieval", k=2, indexes=("bm25",))
    seen: list = []
    settings = []
    for _ in range(4):
        ev = replace(evidence(), history=((PARENT, 0.4), *((c, 0.5) for c in seen)))
        proposals = strategy.propose(
            parent=PARENT, evidence=ev, proposer=proposer(), rng=random.Random(0), count=2
        )
        seen.extend(proposals.candidates)
        for c in proposals.candidates:
            spec = RetrievalSpec.from_settings(c.settings)
            settings.append((spec.k, bool(c.parts.instruction)))
    # k, twice k, half of it; with and without the instruction; each once, then nothing new
    assert settings == [(2, True), (2, False), (4, True), (4, False), (1, True), (1, False)]
    assert len({c.key for c in seen}) == 6
