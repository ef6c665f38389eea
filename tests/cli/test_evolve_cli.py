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
