from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from promptevolve.cli.app import app


@pytest.fixture
def cli(database_url):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(
            app, list(args), env={"PROMPTEVOLVE_DATABASE_URL": database_url, "PROMPTEVOLVE_ACTOR": "cli-test"}
        )

    return run


@pytest.fixture
def initialised(cli):
    result = cli("init")
    assert result.exit_code == 0, result.output
    return cli


def test_init_registers_both_baselines_active_and_is_idempotent(initialised):
    listing = json.loads(initialised("prompt", "list", "--json").stdout)
    assert {p["name"]: p["active"] for p in listing} == {
        "ai_enrichment_en": {"1.0.0": 100.0},
        "ai_enrichment_fr": {"1.0.0": 100.0},
    }
    again = initialised("init")
    assert again.exit_code == 0 and "already there" in again.stdout


def test_show_json_gives_the_full_variant(initialised):
    shown = json.loads(initialised("prompt", "show", "ai_enrichment_fr", "--json").stdout)
    assert shown["version"] == "1.0.0" and shown["kind"] == "baseline" and shown["labels"] == ["production"]
    assert shown["template"][0]["content"].startswith("Vous êtes un analyste de croissance IA")
    assert shown["variables"] == ["company_name", "country", "description", "website"]


def test_add_activate_diff_history_lineage_rollback_round_trip(initialised, tmp_path):
    cli = initialised
    body = json.loads(cli("prompt", "show", "ai_enrichment_en", "--json").stdout)["template"]
    body[1]["content"] += "\nAnswer in under 80 words."
    path = tmp_path / "t.json"
    path.write_text(json.dumps(body))
    added = cli(
        "prompt",
        "add",
        "ai_enrichment_en",
        "--template-file",
        str(path),
        "--strategy",
        "manual",
        "--rationale",
        "shorter answers",
        "--json",
    )
    assert added.exit_code == 0, added.output
    new = json.loads(added.stdout)["variant"]
    assert (new["version"], new["parent_version"], new["active"]) == ("1.1.0", "1.0.0", False)
    assert new["settings"]["response_format"] == "json", "settings are inherited from the serving variant"

    assert (
        cli("prompt", "activate", "ai_enrichment_en", "1.1.0", "--share", "20", "--reason", "try").exit_code
        == 2
    )
    assert cli("prompt", "shares", "ai_enrichment_en", "1.0.0=80", "1.1.0=20").exit_code == 0
    listing = {p["name"]: p for p in json.loads(cli("prompt", "list", "--json").stdout)}
    assert listing["ai_enrichment_en"]["active"] == {"1.0.0": 80.0, "1.1.0": 20.0}

    diff = cli("prompt", "diff", "ai_enrichment_en", "1.0.0", "1.1.0")
    assert "+Answer in under 80 words." in diff.stdout
    lineage = cli("prompt", "lineage", "ai_enrichment_en")
    assert "1.1.0 · optimized · via manual" in lineage.stdout
    assert cli("prompt", "activate", "ai_enrichment_en", "1.1.0", "--exclusive").exit_code == 0
    rolled = cli("prompt", "rollback", "ai_enrichment_en", "1.0.0", "--reason", "worse pitches")
    assert rolled.exit_code == 0
    history = json.loads(cli("prompt", "history", "ai_enrichment_en", "--json").stdout)
    assert history[0]["actor"] == "cli-test"
    assert {h["action"] for h in history} >= {"register", "activate", "set_share", "rollback", "label"}
    assert any(h["reason"] == "worse pitches" for h in history)
    assert "1.0.0 (100 %)" in cli("prompt", "list").stdout


def test_add_same_content_twice_says_so(initialised):
    first = initialised("prompt", "add", "demo", "--template", "Hello {{ who }}")
    again = initialised("prompt", "add", "demo", "--template", "Hello {{ who }}")
    assert first.exit_code == again.exit_code == 0
    assert "already registered as demo@1.0.0" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("prompt", "show", "nope"), "unknown prompt 'nope'"),
        (("prompt", "activate", "nope", "1.0.0"), "unknown prompt 'nope'"),
        (("prompt", "activate", "ai_enrichment_en", "9.9.9"), "has no version 9.9.9"),
        (
            ("prompt", "add", "ai_enrichment_en", "--template", "x {{ y }}", "--version", "1.0"),
            "invalid version",
        ),
        (
            ("prompt", "add", "ai_enrichment_en", "--template", "x {{ y }}", "--version", "1.0.0"),
            "already exists",
        ),
        (("prompt", "add", "ai_enrichment_en", "--template", "{% if %}"), "template syntax error"),
        (("prompt", "add", "bad name!", "--template", "x"), "invalid prompt name"),
        (("prompt", "add", "ai_enrichment_en"), "give the template"),
        (("prompt", "add", "x", "--template", "y", "--temperature", "9"), "temperature"),
        (("prompt", "add", "x", "--template-file", "/no/such/file"), "does not exist"),
        (("prompt", "shares", "ai_enrichment_en", "1.0.0=70", "1.0.0x"), "expected VERSION=PERCENT"),
        (("prompt", "label", "ai_enrichment_en", "Not OK", "1.0.0"), "invalid label"),
        (("prompt", "rollback", "ai_enrichment_fr", "2.0.0"), "has no version 2.0.0"),
        (("prompt", "diff", "ai_enrichment_fr", "1.0.0", "1.0.1"), "has no version 1.0.1"),
    ],
)
def test_refused_commands_exit_2_name_the_problem_and_write_nothing(initialised, db_snapshot, args, message):
    before = db_snapshot()
    result = initialised(*args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert db_snapshot() == before


def test_shares_over_100_percent_exit_2_and_write_nothing(initialised, db_snapshot):
    initialised(
        "prompt",
        "add",
        "ai_enrichment_en",
        "--template",
        "Other {{ company_name }} {{ website }} {{ description }} {{ country }}",
    )
    before = db_snapshot()
    result = initialised("prompt", "activate", "ai_enrichment_en", "1.1.0", "--share", "30")
    assert result.exit_code == 2
    assert "over 100 %" in " ".join(result.stderr.split())
    assert db_snapshot() == before


def test_bad_database_url_exits_2_with_the_reason(tmp_path):
    result = CliRunner().invoke(app, ["--database-url", "mongodb://x", "prompt", "list"])
    assert result.exit_code == 2
    assert "unsupported database" in result.stderr


def test_db_upgrade_migrates_a_blank_database_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    runner = CliRunner()
    first = runner.invoke(app, ["--database-url", url, "db", "upgrade"])
    assert first.exit_code == 0 and "migrated: empty →" in first.stdout
    second = runner.invoke(app, ["--database-url", url, "db", "status"])
    assert "up to date" in second.stdout
