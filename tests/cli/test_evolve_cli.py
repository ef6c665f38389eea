from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from promptevolve.cli.app import app
from promptevolve.registry import Registry, VariantCreate


@pytest.fixture
def cli(database_url):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), env={"PROMPTEVOLVE_DATABASE_URL": database_url})

    return run


@pytest.fixture
def scripted_task(cli, store, tmp_path):
    """A prompt served by the scripted provider (answers "ok") and a dataset where "ok" is half right."""
    Registry(store, actor="t").register(
        VariantCreate(
            prompt="echo",
            template=[{"role": "system", "content": "Answer."}, {"role": "user", "content": "{{ q }}"}],
            settings={"provider": "scripted", "max_tokens": 5},
            description="echo a word",
        )
    )
    path = tmp_path / "d.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"inputs": {"q": f"q{i}"}, "expected": "ok" if i % 2 else "no"}) for i in range(30)
        )
    )
    assert cli("dataset", "import", "echo", str(path), "--evaluator", "exact").exit_code == 0
    return cli


def test_evolve_runs_within_budget_and_prints_the_candidates(scripted_task):
    result = scripted_task(
        "evolve", "echo", "--dataset", "echo", "--budget", "60", "-s", "few_shot", "-s", "context", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["calls"] <= 60 and report["parent"] == "echo@1.0.0"
    table = scripted_task("evolve", "echo", "--dataset", "echo", "--budget", "60", "-s", "role")
    assert table.exit_code == 0, table.output
    assert "Candidates for echo@1.0.0" in table.stdout and "calls" in table.stdout


def test_eval_prints_score_with_interval(scripted_task):
    result = scripted_task("eval", "echo@1.0.0", "--dataset", "echo", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (
        report["score"]["n"] == 9
        and report["score"]["low"] <= report["score"]["mean"] <= report["score"]["high"]
    )
    plain = scripted_task("eval", "echo", "--dataset", "echo", "--split", "train")
    assert plain.exit_code == 0 and "95 % interval" in plain.stdout


def test_refused_evolve_exits_2_and_writes_nothing(scripted_task, db_snapshot):
    before = db_snapshot()
    small = scripted_task("evolve", "echo", "--dataset", "echo", "--budget", "5")
    assert small.exit_code == 2 and "budget" in small.output
    assert scripted_task("evolve", "echo", "--dataset", "nope", "--budget", "100").exit_code == 2
    assert (
        scripted_task("evolve", "echo", "--dataset", "echo", "--budget", "100", "-s", "magic").exit_code == 2
    )
    assert scripted_task("eval", "echo@9.9.9", "--dataset", "echo").exit_code == 2
    assert db_snapshot() == before


def test_evolve_reports_budget_test_calls_and_baselines_and_exports_items(scripted_task, tmp_path):
    out = tmp_path / "items.jsonl"
    table = scripted_task(
        "evolve",
        "echo",
        "-d",
        "echo",
        "--budget",
        "60",
        "-s",
        "few_shot",
        "-E",
        "labels=ok,no",
        "--items-out",
        str(out),
    )
    assert table.exit_code == 0, table.output
    assert "of 60 budgeted calls" in table.stdout and "/0 calls" not in table.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        assert {"input", "expected", "output", "score", "parsed", "prompt", "item"} <= set(row)
    result = scripted_task(
        "evolve", "echo", "-d", "echo", "--budget", "60", "-s", "few_shot", "-E", "labels=ok,no", "--json"
    )
    report = json.loads(result.stdout)
    assert report["budget_calls"] == 60 and report["calls"] <= 60
    assert report["calls"] == report["proposal_calls"] + report["train_calls"] + report["validation_calls"]
    if report["test"] is not None:  # a candidate reached the gate: the baselines sit beside the parent
        names = {b["name"] for b in report["test"]["baselines"]}
        assert "parent constrained to the labels" in names and report["test_calls"] > 0
        assert len(rows) == report["test_calls"]


def test_eval_takes_evaluator_options_shows_baselines_and_exports_items(scripted_task, tmp_path):
    out = tmp_path / "eval.jsonl"
    result = scripted_task(
        "eval", "echo", "-d", "echo", "--evaluator-option", "labels=ok,no", "--items-out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "baseline majority class" in result.stdout and "constrained to the labels" in result.stdout
    assert "choices [ok, no]" in result.stdout  # the label list is printed, not eaten as Rich markup
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 * 9  # the variant, the constant answer, the variant constrained to the labels
    assert {r["prompt"] for r in rows} == {"variant", "majority class", "variant constrained to the labels"}
    assert all(
        r["output"] == "ok" and r["score"] == (r["expected"] == "ok")
        for r in rows
        if r["prompt"] == "variant"
    )


def test_bad_evaluator_options_and_an_unwritable_items_file_exit_2(scripted_task, tmp_path):
    bad = scripted_task("eval", "echo", "-d", "echo", "-E", "labels")
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    unknown = scripted_task("eval", "echo", "-d", "echo", "-E", "nonsense=1")
    assert unknown.exit_code == 2 and "nonsense" in unknown.output
    nowhere = scripted_task("eval", "echo", "-d", "echo", "--items-out", str(tmp_path / "no" / "x.jsonl"))
    assert nowhere.exit_code == 2 and "--items-out" in nowhere.output


def test_a_refused_budget_names_the_options_that_fit(scripted_task):
    small = scripted_task("evolve", "echo", "--dataset", "echo", "--budget", "20")
    assert small.exit_code == 2
    assert "--budget" in small.output and "--max-items" in small.output
