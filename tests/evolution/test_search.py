import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.evolution.support import TEMPLATE, examples, smart_reply

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
    assert provider.call_count == result.spend.calls <= 120


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
    assert provider.call_count == result.spend.calls <= budget
    assert result.spend.tokens <= (max_tokens or 10**12)
    assert spent_tokens <= result.spend.tokens
