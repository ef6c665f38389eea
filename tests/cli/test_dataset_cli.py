from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from promptevolve.cli.app import app


@pytest.fixture
def cli(database_url):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), env={"PROMPTEVOLVE_DATABASE_URL": database_url})

    return run


def test_import_bundled_list_and_show(cli):
    imported = cli("dataset", "import", "leads", "--bundled", "--seed", "1", "--json")
    assert imported.exit_code == 0, imported.output
    info = json.loads(imported.stdout)
    assert info["counts"] == {"train": 500, "validation": 200, "test": 300}
    assert info["locales"] == {"en": 500, "fr": 500} and info["evaluator"] == "lead_enrichment"
    listing = cli("dataset", "list")
    assert listing.exit_code == 0 and "leads" in listing.stdout
    shown = json.loads(cli("dataset", "show", "leads", "--split", "test", "--limit", "3", "--json").stdout)
    assert len(shown["items"]) == 3 and all(i["split"] == "test" for i in shown["items"])


def test_builtin_public_set_keeps_its_own_split_and_names_its_labels(cli):
    imported = cli("dataset", "import", "sms", "--builtin", "sms_spam")
    assert imported.exit_code == 0, imported.output
    assert "labels spam, ham" in imported.stdout and "template sms_spam" in imported.stdout
    info = json.loads(cli("dataset", "show", "sms", "--limit", "1", "--json").stdout)
    assert info["counts"] == {"train": 200, "validation": 200, "test": 600}  # the file's own split
    assert info["evaluator"] == "normalized"
    assert info["description"].startswith("SMS Spam Collection")
    assert "registered its baseline prompt sms_spam@1.0.0 (active)" in imported.stdout
    prompts = json.loads(cli("prompt", "list", "--json").stdout)
    assert [p["name"] for p in prompts] == ["sms_spam"]
    again = cli("dataset", "import", "sms2", "--builtin", "sms_spam")  # the prompt exists: left as is
    assert again.exit_code == 0 and "registered" not in again.stdout
    unknown = cli("dataset", "import", "x", "--builtin", "imdb")
    assert unknown.exit_code == 2 and "error: unknown built-in dataset 'imdb'" in unknown.output


def test_same_seed_gives_the_same_split(cli):
    cli("dataset", "import", "a", "--bundled", "--seed", "5")
    cli("dataset", "import", "b", "--bundled", "--seed", "5")
    a = json.loads(cli("dataset", "show", "a", "--limit", "200", "--json").stdout)["items"]
    b = json.loads(cli("dataset", "show", "b", "--limit", "200", "--json").stdout)["items"]
    assert [(i["key"], i["split"]) for i in a] == [(i["key"], i["split"]) for i in b]


def test_refused_imports_exit_2_and_write_nothing(cli, tmp_path, db_snapshot):
    before = db_snapshot()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"inputs": {"x": 1}, "expected": "a"}\nnot json\n')
    result = cli("dataset", "import", "bad", str(bad))
    assert result.exit_code == 2 and "line 2" in result.output
    assert cli("dataset", "import", "x").exit_code == 2  # no source
    assert cli("dataset", "import", "x", "--bundled", "--builtin", "sms_spam").exit_code == 2  # two
    assert cli("dataset", "import", "x", "--bundled", "--split", "0.5,0.5,0").exit_code == 2
    assert cli("dataset", "show", "missing").exit_code == 2
    assert db_snapshot() == before
