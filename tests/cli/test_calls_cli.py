from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from promptevolve.cli.app import app
from promptevolve.client import PromptOptimizer
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate


@pytest.fixture
def cli(database_url):
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), env={"PROMPTEVOLVE_DATABASE_URL": database_url})


@pytest.fixture
def executions(store, database_url):
    """Three recorded executions of a scripted prompt."""
    Registry(store).register(
        VariantCreate(prompt="echo", template="Echo {{ word }}", settings=ModelSettings(provider="scripted"))
    )
    with PromptOptimizer(
        store,
        settings=Settings(database_url=database_url),
        providers={"scripted": ScriptedProvider(["one", "two", "three"])},
    ) as po:
        ids = [po.run("echo", {"word": w}).execution_id for w in ("a", "b", "c")]
        po.flush()
    return ids


def test_run_uses_the_provider_named_by_the_variant(cli, store):
    Registry(store).register(
        VariantCreate(prompt="echo", template="Echo {{ word }}", settings=ModelSettings(provider="scripted"))
    )
    result = cli("run", "echo", "--var", "word=hi", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "ok" and body["text"] == "ok" and body["version"] == "1.0.0"


def test_run_with_a_missing_variable_exits_2_and_says_which(cli, store):
    Registry(store).register(
        VariantCreate(prompt="echo", template="Echo {{ word }}", settings=ModelSettings(provider="scripted"))
    )
    result = cli("run", "echo")
    assert result.exit_code == 2
    assert "missing template variable: word" in " ".join(result.stderr.split())


def test_feedback_command_links_to_the_execution(cli, executions):
    result = cli("feedback", executions[0], "--thumbs", "up", "--rating", "4")
    assert result.exit_code == 0, result.output
    shown = json.loads(cli("executions", "show", executions[0], "--json").stdout)
    assert sorted((f["kind"], f["value"]) for f in shown["feedback"]) == [("rating", 4.0), ("thumbs", 1.0)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("feedback", "nope", "--thumbs", "up"), "unknown execution id 'nope'"),
        (("feedback", "X", "--thumbs", "sideways"), "--thumbs must be up or down"),
        (("feedback", "X"), "give at least one of"),
        (("executions", "list", "--since", "yesterday"), "bad --since"),
        (("executions", "show", "nope"), "unknown execution id"),
    ],
)
def test_bad_feedback_and_queries_exit_2_and_write_nothing(cli, executions, db_snapshot, args, message):
    before = db_snapshot()
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert db_snapshot() == before


def test_executions_list_filters_and_prints_json(cli, executions):
    rows = json.loads(cli("executions", "list", "--prompt", "echo", "--json").stdout)
    assert [r["id"] for r in rows] == list(reversed(executions))
    assert json.loads(cli("executions", "list", "--status", "error", "--json").stdout) == []
    assert len(json.loads(cli("executions", "list", "--since", "1h", "--limit", "2", "--json").stdout)) == 2
    table = cli("executions", "list")
    assert executions[0] in table.stdout


def test_feedback_import_keeps_good_rows_and_lists_bad_ones(cli, executions, tmp_path):
    csv_file = tmp_path / "fb.csv"
    csv_file.write_text(
        "execution_id,thumbs,rating,correction\n"
        f"{executions[0]},up,5,\n"
        f"{executions[1]},down,,The right answer\n"
        "unknown-id,up,,\n"
        f"{executions[2]},maybe,,\n"
        f"{executions[2]},,9,\n"
    )
    result = cli("feedback", "import", str(csv_file))
    assert result.exit_code == 2
    out = " ".join(result.stdout.split())
    assert "imported 2 rows (4 feedback items)" in out
    assert "unknown execution id 'unknown-id'" in out and "thumbs must be up/down" in out
    assert "less than or equal to 5" in out
    shown = json.loads(cli("executions", "show", executions[1], "--json").stdout)
    assert {(f["kind"], f["text"]) for f in shown["feedback"]} == {
        ("thumbs", None),
        ("correction", "The right answer"),
    }


def test_feedback_import_jsonl_all_good_exits_0(cli, executions, tmp_path):
    path = tmp_path / "fb.jsonl"
    path.write_text(
        "\n".join(json.dumps({"execution_id": e, "score": 0.5, "source": "evaluator"}) for e in executions)
    )
    result = cli("feedback", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 3 rows (3 feedback items)" in result.stdout


def test_feedback_import_refuses_unknown_columns_and_file_types(cli, executions, tmp_path, db_snapshot):
    before = db_snapshot()
    typo = tmp_path / "typo.jsonl"
    typo.write_text(json.dumps({"execution_id": executions[0], "ratng": 5}))
    result = cli("feedback", "import", str(typo))
    assert result.exit_code == 2 and "unknown column(s) ratng" in " ".join(result.stdout.split())
    other = tmp_path / "fb.xlsx"
    other.write_text("x")
    assert cli("feedback", "import", str(other)).exit_code == 2
    assert db_snapshot() == before
