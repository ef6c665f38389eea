import json

import pytest
from tests.evolution.support import LABELS, TEMPLATE, smart_reply

from promptevolve.compose import compose
from promptevolve.core.errors import BudgetExceededError, ConflictError, NotFoundError, ValidationError
from promptevolve.core.types import VariantKind
from promptevolve.evolution import (
    Budget,
    EvolveRequest,
    build_from_production,
    get_dataset,
    import_jsonl,
    list_datasets,
    load_examples,
    split_keys,
)
from promptevolve.evolution.strategies import CLASSIFICATION_STRATEGIES, DEFAULT_STRATEGIES
from promptevolve.experiments import ExperimentCreate
from promptevolve.providers import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.tables import Evolution, Execution, Feedback, Prompt


def write_jsonl(path, n=40):
    colours = list(LABELS)
    lines = []
    for i in range(n):
        colour = colours[i % len(colours)]
        lines.append(
            json.dumps(
                {
                    "id": f"c{i:03d}",
                    "locale": "en" if i % 2 else "fr",
                    "inputs": {"colour": f"{colour} #{i}"},
                    "expected": LABELS[colour],
                }
            )
        )
    path.write_text("\n".join(lines))
    return path


def test_split_is_reproducible_and_stratified_by_locale():
    keys = [f"k{i}" for i in range(100)]
    strata = {k: ("en" if i < 60 else "fr") for i, k in enumerate(keys)}
    a = split_keys(keys, seed=3, strata=strata)
    assert a == split_keys(keys, seed=3, strata=strata)
    assert a != split_keys(keys, seed=4, strata=strata)
    en_test = sum(1 for k, s in a.items() if s == "test" and strata[k] == "en")
    fr_test = sum(1 for k, s in a.items() if s == "test" and strata[k] == "fr")
    assert (en_test, fr_test) == (18, 12)
    with pytest.raises(ValidationError):
        split_keys(keys, seed=0, fractions=(0.5, 0.5, 0.0))


def test_import_list_show_and_refusal_writes_nothing(store, tmp_path, db_snapshot):
    path = write_jsonl(tmp_path / "d.jsonl")
    info = import_jsonl(store, "colours", path, seed=1, evaluator="exact")
    assert info.size == 40 and info.counts == {"train": 20, "validation": 8, "test": 12}
    assert info.locales == {"en": 20, "fr": 20}
    assert [d.name for d in list_datasets(store)] == ["colours"]
    assert len(load_examples(store, "colours", split="test", locale="en")) == 6
    before = db_snapshot()
    with pytest.raises(ConflictError):
        import_jsonl(store, "colours", path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"inputs": {"a": 1}, "expected": 1}\n{"inputs": {}}\n')
    with pytest.raises(ValidationError, match="line 2"):
        import_jsonl(store, "other", bad)
    assert db_snapshot() == before
    again = import_jsonl(store, "colours", path, seed=1, replace=True)
    assert again.counts == info.counts


@pytest.fixture
def colours(store, tmp_path):
    registry = Registry(store, actor="test")
    registry.register(VariantCreate(prompt="colours", template=TEMPLATE, description="classify colours"))
    registry.activate("colours", "1.0.0")
    import_jsonl(store, "colours", write_jsonl(tmp_path / "d.jsonl"), seed=1, evaluator="exact")
    return registry


def test_evolve_registers_an_inactive_evolved_variant_with_evidence(store, colours):
    provider = ScriptedProvider(smart_reply)
    service = compose(store, actor="test", providers={"local": provider}).evolution
    report = service.evolve(
        EvolveRequest(prompt="colours", dataset="colours", budget=150, seed=1, minibatch=4)
    )
    assert report.status == "passed" and report.child is not None
    child = colours.get_variant("colours", report.child.version)
    assert child.kind is VariantKind.EVOLVED and not child.active and child.parent_version == "1.0.0"
    assert child.strategy and child.rationale
    assert child.meta["test_score"] > child.meta["parent_test_score"]
    assert child.meta["calls_spent"] == report.optimization_spend.calls <= 150
    assert child.meta["test_calls"] == report.test_spend.calls == 2 * child.meta["test_items"]
    _, tree = colours.lineage("colours")
    assert tree[0].children[0].score == child.meta["test_score"]
    with store.read() as s:
        rows = s.query(Evolution).all()
        winner = [r for r in rows if r.child_variant_id == child.id]
        assert len(winner) == 1 and winner[0].status == "passed" and winner[0].improvement_ci_low > 0
        assert all(r.run_id == report.run_id for r in rows)


def test_auto_ab_starts_an_experiment_only_after_the_gate(store, colours):
    service = compose(store, actor="test", providers={"local": ScriptedProvider(smart_reply)}).evolution
    report = service.evolve(
        EvolveRequest(prompt="colours", dataset="colours", budget=150, seed=1, minibatch=4, auto_ab=True)
    )
    assert report.experiment_id is not None, report.auto_ab_note
    flat = compose(store, actor="test", providers={"local": ScriptedProvider(lambda p, s: "warm")}).evolution
    refused = flat.evolve(
        EvolveRequest(
            prompt="colours",
            dataset="colours",
            budget=150,
            seed=2,
            minibatch=4,
            auto_ab=True,
            strategies=["context"],
        )
    )
    assert refused.experiment_id is None


def test_auto_ab_refused_by_a_live_test_stops_its_draft_and_the_evolution_stands(store, colours):
    by_hand = [{**TEMPLATE[0], "content": "Say, in one word, if the colour is warm or cold."}, TEMPLATE[1]]
    other = colours.register(VariantCreate(prompt="colours", template=by_hand)).variant.version
    experiments = compose(store, actor="test").experiments
    plan = ExperimentCreate(prompt="colours", control="1.0.0", treatments=[other])
    live = experiments.create_and_start(plan)
    service = compose(store, actor="test", providers={"local": ScriptedProvider(smart_reply)}).evolution
    report = service.evolve(
        EvolveRequest(prompt="colours", dataset="colours", budget=150, seed=1, minibatch=4, auto_ab=True)
    )
    assert report.status == "passed" and report.child is not None  # the evolution stands
    assert report.experiment_id is None and "A/B test not started" in (report.auto_ab_note or "")
    first, refused = experiments.list("colours")
    assert first.id == live.id and first.status == live.status
    assert refused.status == "stopped"  # no draft left behind
    assert "could not start" in experiments.decisions(refused.id)[-1].reason


def test_refused_runs_write_nothing(store, colours, db_snapshot):
    service = compose(store, actor="test", providers={"local": ScriptedProvider(smart_reply)}).evolution
    before = db_snapshot()
    with pytest.raises(BudgetExceededError):
        service.evolve(EvolveRequest(prompt="colours", dataset="colours", budget=10))
    with pytest.raises(NotFoundError):
        service.evolve(EvolveRequest(prompt="colours", dataset="missing", budget=100))
    with pytest.raises(Exception, match="unknown strategy"):
        service.evolve(EvolveRequest(prompt="colours", dataset="colours", budget=100, strategies=["nope"]))
    assert db_snapshot() == before


def test_evaluate_reports_a_bootstrap_interval(store, colours):
    service = compose(
        store, actor="test", providers={"local": ScriptedProvider(lambda p, s: "warm")}
    ).evolution
    report = service.evaluate("colours", "1.0.0", dataset="colours")
    assert report.score is not None and report.score.n == 12
    assert report.score.low <= report.score.mean <= report.score.high
    assert report.spend.calls == 12


def test_dataset_from_production_uses_corrections_as_gold(store, colours):
    variant = colours.get_variant("colours", "1.0.0")
    with store.write() as s:
        for i, (output, kind, value, text) in enumerate(
            [
                ("warm", "correction", None, "cold"),
                ("warm", "thumbs", 1.0, None),
                ("cold", "thumbs", 0.0, None),
            ]
        ):
            s.add(
                Execution(
                    id=f"e{i}",
                    prompt_id=None,
                    variant_id=variant.id,
                    variables={"colour": f"c{i}"},
                    output=output,
                    status="ok",
                    ts=1.0 + i,
                )
            )
            s.flush()
            s.add(Feedback(id=f"f{i}", execution_id=f"e{i}", kind=kind, value=value, text=text, ts=2.0 + i))
    with store.write() as s:
        pid = s.query(Prompt).filter_by(name="colours").one().id
        s.query(Execution).update({"prompt_id": pid})
    report = build_from_production(store, "prod", prompt="colours", fractions=(0.0, 0.0, 1.0))
    assert (report.corrections, report.approved, report.skipped_negative) == (1, 1, 1)
    items = {e.key: e for e in load_examples(store, "prod")}
    assert items["exec-e0"].expected == "cold" and items["exec-e1"].expected == "warm"
    assert get_dataset(store, "prod").source == "production"


def test_quick_round_imports_the_bundled_leads_and_stays_in_budget(store):
    from promptevolve.examples.lead_enrichment.baselines import install_baselines
    from promptevolve.examples.lead_enrichment.demo_round import quick_round

    registry = Registry(store, actor="test")
    install_baselines(registry)
    reply = '{"industry": "software", "size_band": "11-50", "ai_maturity": 3, "growth_signals": []}'
    report = quick_round(store, registry=registry, providers={"local": ScriptedProvider([reply], cycle=True)})
    assert report.spend.calls <= 40 and report.dataset == "leads"
    assert get_dataset(store, "leads").size == 1000


def write_binary(path, n=60, split_field=False):
    """A balanced binary set; with ``split_field`` every item names its own split (train/val/test)."""
    lines = []
    for i in range(n):
        item = {"id": f"r{i:03d}", "inputs": {"colour": f"review {i}"}, "expected": str(i % 2)}
        if split_field:
            item["split"] = ("train", "val", "test")[i % 3]
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines))
    return path


def constant_one(prompt, settings):
    return "1" if "Answer:" in prompt.as_text() else "Well, this review seems rather nice"


def test_a_constant_classifier_is_reported_as_format_repair_and_starts_no_ab_test(store, colours, tmp_path):
    import_jsonl(store, "reviews", write_binary(tmp_path / "r.jsonl"), seed=1, evaluator="exact")
    service = compose(store, actor="test", providers={"local": ScriptedProvider(constant_one)}).evolution
    report = service.evolve(
        EvolveRequest(
            prompt="colours",
            dataset="reviews",
            budget=80,
            seed=1,
            minibatch=4,
            strategies=["few_shot"],
            evaluator_options={"labels": ["0", "1"]},
            auto_ab=True,
        )
    )
    assert report.status == "format_only" and report.experiment_id is None
    assert "repairs the format only" in (report.auto_ab_note or "")
    child = colours.get_variant("colours", report.child.version)
    assert child.meta["gate"] == "format_only" and child.meta["improvement"] > 0.4
    assert child.meta["reference"] in ("majority class", "parent constrained to the labels")
    assert child.meta["run"]["baselines"] and child.meta["run"]["labels"] == ["0", "1"]


def test_every_candidate_is_stored_with_its_scores_and_template(store, colours):
    service = compose(store, actor="test", providers={"local": ScriptedProvider(smart_reply)}).evolution
    report = service.evolve(
        EvolveRequest(prompt="colours", dataset="colours", budget=150, seed=1, minibatch=4)
    )
    with store.read() as s:
        rows = s.query(Evolution).filter(Evolution.run_id == report.run_id).all()
    assert len(rows) == len(report.result.candidates) > len(report.result.finalists)
    assert sum(r.evidence["finalist"] for r in rows) == len(report.result.finalists)
    for row in rows:
        assert (
            row.evidence["template"] and "train_score" in row.evidence and "validation_score" in row.evidence
        )
        assert row.status == ("passed" if row.child_variant_id else "not_selected")


def test_predefined_splits_in_the_items_are_kept(store, tmp_path):
    info = import_jsonl(store, "given", write_binary(tmp_path / "g.jsonl", n=30, split_field=True), seed=5)
    assert info.counts == {"train": 10, "validation": 10, "test": 10} and info.predefined == 30
    test_keys = {e.key for e in load_examples(store, "given", split="test")}
    assert test_keys == {f"r{i:03d}" for i in range(2, 30, 3)}


def test_evaluate_shows_the_trivial_baselines_on_the_same_items(store, colours, tmp_path):
    import_jsonl(store, "reviews", write_binary(tmp_path / "r.jsonl"), seed=1, evaluator="exact")
    service = compose(store, actor="test", providers={"local": ScriptedProvider(lambda p, s: "1")}).evolution
    plain = service.evaluate("colours", "1.0.0", dataset="reviews")
    assert [b.name for b in plain.baselines] == ["majority class"]
    majority = plain.baselines[0]
    (answer,) = {r.output for r in majority.results}
    share = sum(e.expected == answer for e in plain.examples) / len(plain.examples)
    assert majority.mean == pytest.approx(share) and [r.key for r in majority.results] == [
        e.key for e in plain.examples
    ]
    assert plain.spend.calls == plain.score.n
    labelled = service.evaluate("colours", "1.0.0", dataset="reviews", evaluator_options={"labels": "0,1"})
    names = [b.name for b in labelled.baselines]
    assert names == ["majority class", "variant constrained to the labels"]
    assert labelled.spend.calls == 2 * labelled.score.n and labelled.labels == ("0", "1")
    assert len(labelled.examples) == labelled.score.n


def test_a_retrieval_winner_picks_its_demos_per_call_when_the_sdk_serves_it(store, colours):
    from tests.evolution.support import copycat_reply

    from promptevolve.client import PromptOptimizer
    from promptevolve.core.settings import Settings
    from promptevolve.evolution import Candidate, SearchConfig, SearchData, create_strategy, run_search
    from promptevolve.evolution.datasets import load_examples
    from promptevolve.evolution.parts import parts_from_template, parts_to_meta
    from promptevolve.scoring.evaluators import ExactMatch

    data = SearchData(
        *(load_examples(store, "colours", split=s) for s in ("train", "validation", "test")), "t"
    )
    config = SearchConfig(
        strategies=(create_strategy("few_shot"), create_strategy("retrieval", indexes=("bm25",))),
        budget=Budget(max_calls=150),
        seed=1,
        minibatch=4,
    )
    parent = Candidate(parts_from_template(TEMPLATE), colours.get_variant("colours").settings, "baseline", "")
    result = run_search(
        parent=parent,
        data=data,
        config=config,
        evaluator=ExactMatch(),
        provider=ScriptedProvider(copycat_reply),
    )
    gate = result.gate
    measured = f"{result.verdict}, winner {result.winner and result.winner.strategy}, gate {gate}"
    assert result.verdict == "passed" and result.winner.strategy == "retrieval", measured
    child = colours.register(
        VariantCreate(
            prompt="colours",
            template=result.winner.template,
            settings=result.winner.settings,
            meta={"parts": parts_to_meta(result.winner.parts)},
        )
    ).variant
    colours.activate("colours", child.version, exclusive=True)
    served = ScriptedProvider(copycat_reply)
    with PromptOptimizer(store, settings=Settings(database_url=store.url), providers={"local": served}) as po:
        for colour, label in (("yellow", "warm"), ("purple", "cold")):
            answer = po.run("colours", {"colour": f"{colour} #999"})
            assert answer.text == label and answer.version == child.version
    prompt, _ = served.calls[-1]
    assert "Colour: purple #" in prompt.as_text().rsplit("Answer:", 2)[0]  # the nearest demo sits last


def test_without_named_strategies_a_classification_evolves_with_the_label_strategies(store, colours):
    service = compose(store, actor="test", providers={"local": ScriptedProvider(smart_reply)}).evolution
    report = service.evolve(
        EvolveRequest(
            prompt="colours",
            dataset="colours",
            budget=150,
            seed=1,
            minibatch=4,
            evaluator_options={"labels": ["warm", "cold"]},
        )
    )
    tried = {c.candidate.strategy for c in report.result.candidates}
    assert "labels" in tried and tried <= set(CLASSIFICATION_STRATEGIES)
    assert report.child is not None
    assert colours.get_variant("colours", report.child.version).meta["run"]["strategies"] == list(
        CLASSIFICATION_STRATEGIES
    )


def test_without_named_strategies_a_task_without_labels_evolves_with_the_general_list(store, colours):
    service = compose(store, actor="test", providers={"local": ScriptedProvider(smart_reply)}).evolution
    report = service.evolve(
        EvolveRequest(prompt="colours", dataset="colours", budget=150, seed=1, minibatch=4)
    )
    tried = {c.candidate.strategy for c in report.result.candidates}
    assert "labels" not in tried and "retrieval" not in tried and tried & {"context", "role"}
    assert colours.get_variant("colours", report.child.version).meta["run"]["strategies"] == list(
        DEFAULT_STRATEGIES
    )


def test_named_strategies_are_used_as_given_even_for_a_classification(store, colours):
    service = compose(store, actor="test", providers={"local": ScriptedProvider(smart_reply)}).evolution
    report = service.evolve(
        EvolveRequest(
            prompt="colours",
            dataset="colours",
            budget=150,
            seed=1,
            minibatch=4,
            strategies=["few_shot"],
            evaluator_options={"labels": ["warm", "cold"]},
        )
    )
    assert {c.candidate.strategy for c in report.result.candidates} == {"few_shot"}
