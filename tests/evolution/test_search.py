import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.evolution.support import LABELS, TEMPLATE, examples, smart_reply

from promptevolve.core.errors import BudgetExceededError
from promptevolve.core.types import ModelSettings
from promptevolve.evolution import (
    Budget,
    Candidate,
    SearchConfig,
    SearchData,
    create_strategy,
    gate,
    parts_from_template,
    run_search,
)
from promptevolve.providers import ScriptedProvider
from promptevolve.scoring.evaluators import ExactMatch

PARENT = Candidate(parts_from_template(TEMPLATE), ModelSettings(max_tokens=20), "baseline", "")
DATA = SearchData(examples(12, "train"), examples(6, "validation", 50), examples(12, "test", 100), "colours")
ALL = ("few_shot", "context", "role", "critique", "opro", "crossover")


def search(seed=0, budget=120, max_tokens=None, reply=smart_reply, strategies=ALL, data=DATA):
    provider = ScriptedProvider(reply)
    config = SearchConfig(
        strategies=tuple(create_strategy(s) for s in strategies),
        budget=Budget(max_calls=budget, max_tokens=max_tokens),
        seed=seed,
        minibatch=4,
    )
    return run_search(
        parent=PARENT, data=data, config=config, evaluator=ExactMatch(), provider=provider
    ), provider


def test_a_better_prompt_is_found_and_passes_the_gate():
    result, provider = search()
    assert result.winner is not None and result.winner.strategy in ("few_shot", "crossover")
    assert result.gate is not None and result.gate.passed
    assert result.gate.improvement.low > 0
    assert provider.call_count == result.total_spend.calls
    assert result.spend.calls <= 120  # the budget counts optimization calls; the test stage is apart
    assert result.test.spend.calls == 2 * len(DATA.test) and result.verdict == "passed"


def test_seeded_runs_repeat_exactly():
    a, pa = search(seed=7)
    b, pb = search(seed=7)
    assert [p.as_text() for p, _ in pa.calls] == [p.as_text() for p, _ in pb.calls]
    assert a.winner.key == b.winner.key and a.gate.improvement == b.gate.improvement
    assert [c.candidate.key for c in a.candidates] == [c.candidate.key for c in b.candidates]


def test_gate_refuses_a_candidate_that_is_not_better_on_test():
    def same(prompt, settings):  # every prompt gets the same answers: no candidate can be better
        return "warm"

    result, _ = search(reply=same, strategies=("few_shot", "context"))
    assert result.gate is None or not result.gate.passed
    verdict = gate([1, 0, 1, 0, 1, 1], [1, 0, 1, 0, 1, 1], rng=np.random.default_rng(0))
    assert not verdict.passed and verdict.improvement.mean == 0
    worse = gate([1, 1, 1, 0, 1, 1], [1, 0, 1, 0, 1, 0], rng=np.random.default_rng(0))
    assert (not worse.passed and worse.improvement.high <= 0.0 + 1e-9) or worse.improvement.mean < 0


def test_gate_passes_a_clear_paired_improvement():
    verdict = gate([0.0] * 10 + [1.0] * 2, [1.0] * 12, rng=np.random.default_rng(3))
    assert verdict.passed and verdict.improvement.low > 0 and "above zero" in verdict.reason


def test_a_budget_too_small_for_validation_and_test_is_refused_before_any_call():
    provider = ScriptedProvider(smart_reply)
    config = SearchConfig(strategies=(create_strategy("few_shot"),), budget=Budget(max_calls=20), minibatch=4)
    with pytest.raises(BudgetExceededError, match="at least"):
        run_search(parent=PARENT, data=DATA, config=config, evaluator=ExactMatch(), provider=provider)
    assert provider.call_count == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    budget=st.integers(min_value=46, max_value=140),
    max_tokens=st.one_of(st.none(), st.integers(min_value=3_000, max_value=30_000)),
    seed=st.integers(min_value=0, max_value=5),
    children=st.integers(min_value=1, max_value=3),
)
def test_budgets_are_never_exceeded(budget, max_tokens, seed, children):
    provider = ScriptedProvider(smart_reply)
    config = SearchConfig(
        strategies=tuple(create_strategy(s) for s in ALL),
        seed=seed,
        minibatch=3,
        children=children,
        budget=Budget(max_calls=budget, max_tokens=max_tokens),
    )
    try:
        result = run_search(
            parent=PARENT, data=DATA, config=config, evaluator=ExactMatch(), provider=provider
        )
    except BudgetExceededError:
        assert provider.call_count == 0
        return
    spent_tokens = sum(len(p.as_text().split()) for p, _ in provider.calls)
    assert provider.call_count == result.total_spend.calls
    assert result.spend.calls <= budget and result.test.spend.calls <= result.test.planned_calls
    assert result.spend.tokens <= (max_tokens or 10**12)
    assert spent_tokens <= result.total_spend.tokens


def _balanced(n: int, split: str, start: int = 0) -> tuple:
    from promptevolve.evolution.datasets import Example

    return tuple(
        Example(f"{split}-{i:03d}", split, {"colour": f"review {i}"}, str(i % 2))
        for i in range(start, start + n)
    )


def constant_one(prompt, settings):
    """A model that answers "1" to any prompt with worked examples, and chatter to anything else."""
    return "1" if "Answer:" in prompt.as_text() else "I think this review is rather nice overall"


def test_a_constant_classifier_repairs_the_format_only_and_never_passes_the_gate():
    data = SearchData(_balanced(12, "train"), _balanced(6, "validation", 50), _balanced(20, "test", 100), "t")
    provider = ScriptedProvider(constant_one)
    config = SearchConfig(
        strategies=(create_strategy("few_shot"),), budget=Budget(max_calls=80), minibatch=4, seed=1
    )
    result = run_search(
        parent=PARENT, data=data, config=config, evaluator=ExactMatch(labels=["0", "1"]), provider=provider
    )
    assert result.winner is not None, "the constant '1' beats the unparsable parent on validation"
    over_parent = result.test.parent_gate
    assert over_parent is not None and over_parent.passed, "against the broken parent it looks like +0.5"
    names = {b.name for b in result.test.baselines}
    assert {"majority class", "parent constrained to the labels"} <= names
    assert result.test.reference == "majority class"
    assert not result.gate.passed and result.verdict == "format_only"
    assert result.test.spend.calls == 3 * len(data.test)  # parent, candidate, constrained parent


def test_the_budget_counts_optimization_calls_and_the_test_stage_is_counted_apart():
    result, provider = search(budget=60, strategies=("few_shot",))
    spend, test = result.spend, result.test.spend
    assert spend.calls <= 60 and spend.calls == spend.proposal_calls + spend.evaluation_calls
    assert spend.validation_calls == 3 * len(DATA.validation) and spend.test_calls == 0
    assert spend.train_calls == spend.evaluation_calls - spend.validation_calls > 0
    assert test.calls == test.test_calls == 2 * len(DATA.test)
    assert provider.call_count == spend.calls + test.calls


def test_a_refused_budget_names_the_budget_and_the_max_items_that_fit():
    provider = ScriptedProvider(smart_reply)
    config = SearchConfig(strategies=(create_strategy("few_shot"),), budget=Budget(max_calls=16), minibatch=4)
    with pytest.raises(BudgetExceededError) as refused:
        run_search(parent=PARENT, data=DATA, config=config, evaluator=ExactMatch(), provider=provider)
    message = str(refused.value)
    assert "--budget 22" in message and "--max-items 4" in message
    assert provider.call_count == 0


def test_a_test_budget_too_small_is_refused_naming_the_test_items_that_fit():
    provider = ScriptedProvider(smart_reply)
    config = SearchConfig(
        strategies=(create_strategy("few_shot"),), budget=Budget(max_calls=60), minibatch=4, test_budget=10
    )
    with pytest.raises(BudgetExceededError, match="--test-items 5"):
        run_search(parent=PARENT, data=DATA, config=config, evaluator=ExactMatch(), provider=provider)
    assert provider.call_count == 0


def test_the_gate_can_use_a_seeded_sample_of_the_test_split_and_states_its_size():
    provider = ScriptedProvider(smart_reply)
    config = SearchConfig(
        strategies=(create_strategy("few_shot"),), budget=Budget(max_calls=60), minibatch=4, test_items=5
    )
    result = run_search(parent=PARENT, data=DATA, config=config, evaluator=ExactMatch(), provider=provider)
    assert len(result.test.examples) == 5 and result.gate.improvement.n == 5
    assert "on 5 test items" in result.gate.reason
    assert {e.key for e in result.test.examples} <= {e.key for e in DATA.test}


def test_validation_scores_of_parent_and_candidates_are_raw_means_on_the_same_items():
    result, _ = search(budget=80, strategies=("few_shot", "context"))
    assert result.finalists
    for f in result.finalists:
        penalty = 0.01 * max(0, f.candidate.chars - PARENT.chars) / 1000
        assert f.validation_score == pytest.approx(f.validation_penalised + penalty)


def test_demo_orders_and_subsets_compete_on_the_rungs():
    result, _ = search(budget=140, strategies=("few_shot",))
    siblings = [
        c
        for c in result.candidates
        if "reordered" in c.candidate.rationale or "swapped" in c.candidate.rationale
    ]
    assert siblings, "a few-shot candidate that survived a halving gets order and subset siblings"
    base = {c.candidate.key: c.candidate for c in result.candidates}
    for s in siblings:
        mine = [d.key for d in s.candidate.parts.demos]
        theirs = [d.key for d in base[s.candidate.parent_key].parts.demos]
        assert mine != theirs
        if "reordered" in s.candidate.rationale.rsplit(";", 1)[-1]:
            assert sorted(mine) == sorted(theirs)
        else:
            assert len(set(mine) - set(theirs)) == 1 and len(mine) == len(theirs)


def test_a_capped_train_rung_stops_promotion_there_and_explores_more():
    from promptevolve.evolution.search import _rungs

    assert _rungs(100, 8) == [8, 16, 32, 64, 100] and _rungs(100, 8, 64) == [8, 16, 32, 64]
    assert _rungs(100, 8, 20) == [8, 16, 20] and _rungs(100, 8, 3) == [8] and _rungs(5, 8, 64) == [5]
    wide = SearchData(examples(48, "train"), DATA.validation, DATA.test, "colours")

    def run(cap):
        provider = ScriptedProvider(smart_reply)
        config = SearchConfig(
            strategies=tuple(create_strategy(s) for s in ALL),
            budget=Budget(max_calls=200),
            minibatch=4,
            max_train_rung=cap,
        )
        return run_search(parent=PARENT, data=wide, config=config, evaluator=ExactMatch(), provider=provider)

    capped, whole = run(8), run(None)
    assert max(c.train_items for c in capped.candidates) == 8
    assert max(c.train_items for c in whole.candidates) > 8, "without a cap the leaders climb further"
    assert len(capped.candidates) > len(whole.candidates), "the calls saved go to new candidates"
    assert capped.spend.calls <= 200 and whole.spend.calls <= 200


LONG = SearchData(examples(12, "train"), examples(80, "validation", 50), examples(12, "test", 200), "c")


def test_staged_validation_sets_aside_its_worst_case_and_halves_the_finalists():
    from promptevolve.evolution.search import _validation_calls, _validation_rungs

    assert _validation_rungs(100, 3) == [25, 50, 100] and _validation_rungs(80, 3) == [20, 40, 80]
    assert _validation_rungs(6, 3) == [6] and _validation_rungs(100, 1) == [100]
    # the parent on every item; finalists 2, 1, 1 (or 3, 2, 1) on the three quarters' rungs
    assert _validation_calls(100, 2, 3) == 100 + 2 * 25 + 25 + 50 == 225
    assert _validation_calls(100, 3, 3) == 275 and _validation_calls(100, 2, 1) == 300
    assert _validation_calls(6, 2, 3) == 18


def _run_long(reply, budget=300, finalists=3):
    provider = ScriptedProvider(reply)
    config = SearchConfig(
        strategies=(create_strategy("few_shot"),),
        budget=Budget(max_calls=budget),
        minibatch=4,
        finalists=finalists,
    )
    result = run_search(parent=PARENT, data=LONG, config=config, evaluator=ExactMatch(), provider=provider)
    return result, provider


def test_a_parent_clearly_below_stops_after_the_first_validation_rung_and_the_best_finalist_wins():
    result, provider = _run_long(smart_reply)  # the parent answers "unsure": 0 on every item
    assert result.planned_final_calls == 80 + 3 * 20 + 2 * 20 + 1 * 40
    assert result.parent_validation == 0.0 and result.parent_validation_items == 20
    items = sorted(f.validation_items for f in result.finalists)
    assert items == [20, 40, 80]  # all perfect: none clearly below, so the halving caps decide
    assert result.spend.validation_calls == 20 + sum(items) < result.planned_final_calls
    assert result.winner is not None and result.verdict == "passed"
    winner = next(f for f in result.finalists if f.candidate.key == result.winner.key)
    assert winner.validation_items == 80 and winner.validation_score == 1.0
    assert provider.call_count == result.total_spend.calls


def overfitting(prompt, settings):
    """Worked examples give the right answer on train and the wrong one on validation; the parent's
    instruction alone is right on validation (and unsure on train)."""
    text = prompt.as_text()
    number = int(text.rsplit("#", 1)[-1].split()[0])
    if "Answer:" not in text:
        return LABELS[text.rsplit("Colour:", 1)[-1].split()[0]] if number >= 50 else "unsure"
    right = smart_reply(prompt, settings)
    return right if number < 50 else ("warm" if right == "cold" else "cold")


def test_finalists_clearly_below_the_parent_stop_after_the_first_rung_and_none_wins():
    result, _ = _run_long(overfitting)
    assert result.finalists and all(f.validation_items == 20 for f in result.finalists)
    assert all(f.validation_score == 0.0 for f in result.finalists)
    assert result.parent_validation == 1.0 and result.winner is None
    assert result.spend.validation_calls == 4 * 20  # the parent and three finalists on the first rung


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=st.integers(min_value=150, max_value=320), seed=st.integers(min_value=0, max_value=3))
def test_staged_validation_never_exceeds_the_budget_or_its_set_aside(budget, seed):
    provider = ScriptedProvider(smart_reply)
    config = SearchConfig(
        strategies=tuple(create_strategy(s) for s in ("few_shot", "crossover")),
        budget=Budget(max_calls=budget),
        seed=seed,
        minibatch=3,
        finalists=3,
    )
    try:
        result = run_search(
            parent=PARENT, data=LONG, config=config, evaluator=ExactMatch(), provider=provider
        )
    except BudgetExceededError:
        assert provider.call_count == 0 and budget < 220 + 3
        return
    assert result.spend.calls <= budget
    assert result.spend.validation_calls <= result.planned_final_calls == 220
    assert provider.call_count == result.total_spend.calls
