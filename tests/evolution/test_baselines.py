from promptevolve.evolution.baselines import constant_baseline, label_space
from promptevolve.evolution.datasets import Example
from promptevolve.providers import ScriptedProvider
from promptevolve.scoring.evaluators import ExactMatch, JsonFields, create_evaluator


def items(labels, split="train"):
    return tuple(Example(f"{split}{i}", split, {"x": f"text {i}"}, label) for i, label in enumerate(labels))


def test_the_majority_class_is_chosen_on_train_and_scored_on_the_evaluated_items():
    train = items(["a", "a", "a", "b", "b", "c"])
    test = items(["b", "b", "a", "c"], "test")
    baseline = constant_baseline(train, test, ExactMatch())
    assert baseline is not None and baseline.name == "majority class"
    assert {r.output for r in baseline.results} == {"a"} and baseline.mean == 0.25
    assert [r.key for r in baseline.results] == [e.key for e in test]


def test_the_best_constant_answer_of_an_open_task_is_named_as_such():
    gold = [{"size": "small", "kind": k} for k in ("x", "y", "z", "w")] * 2
    train = items(gold)
    baseline = constant_baseline(train, items(gold[:3], "test"), JsonFields())
    assert baseline is not None and baseline.name == "best constant answer"
    assert 0 < baseline.mean < 1  # the constant gets the shared field right, not the varying one


def test_label_space_is_declared_or_inferred_from_few_short_answers():
    assert label_space(items(["x"] * 3), ExactMatch(labels=["x", "y"])) == ("x", "y")
    assert label_space(items(["pos", "neg"] * 5), ExactMatch()) == ("pos", "neg")
    assert label_space(items([f"free text {i}" for i in range(10)]), ExactMatch()) is None
    assert label_space(items([{"a": 1}] * 6), ExactMatch()) is None


def test_a_judge_that_calls_a_model_gets_no_free_baseline():
    judge = create_evaluator("judge", provider=ScriptedProvider(["Score: 5"]), rubric="be right")
    assert constant_baseline(items(["a", "b"] * 3), items(["a"], "test"), judge) is None
