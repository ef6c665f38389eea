"""`promptevolve ab …`: the lifecycle from the command line, the HTML report, and refused commands
(exit code 2, a message naming the problem, nothing written)."""

from __future__ import annotations

import json

import pytest
from tests.experiments.support import make_lab
from typer.testing import CliRunner

from promptevolve.cli.app import app


@pytest.fixture
def lab(store):
    lab = make_lab(store)
    yield lab
    lab.close()


@pytest.fixture
def cli(database_url):
    runner = CliRunner()

    def run(*args: str):
        env = {"PROMPTEVOLVE_DATABASE_URL": database_url, "PROMPTEVOLVE_ACTOR": "cli-test"}
        return runner.invoke(app, ["ab", *args], env=env)

    return run


def test_create_start_analyze_report_and_promote_from_the_command_line(lab, cli, tmp_path):
    created = cli(
        "create",
        "p",
        "--control",
        "1.0.0",
        "--treatment",
        "1.1.0",
        "--metric",
        "thumbs",
        "--mde",
        "0.1",
        "--min-sample",
        "200",
        "--ramp",
        "none",
        "--srm-grace",
        "0",
        "--start",
        "--json",
    )
    assert created.exit_code == 0, created.output
    info = json.loads(created.stdout)
    assert info["status"] == "running" and [a["share"] for a in info["arms"]] == [50.0, 50.0]
    exp = str(info["id"])
    lab.optimizer.cache.invalidate("p")
    lab.drive(600, thumbs={"1.0.0": 0.4, "1.1.0": 0.8})

    status = cli("status", exp)
    assert status.exit_code == 0 and "p / chance to win" in status.stdout and "SRM p =" in status.stdout
    listing = json.loads(cli("status", "--json").stdout)
    assert [e["id"] for e in listing] == [info["id"]]

    analyzed = cli("analyze", exp, "--json")
    result = json.loads(analyzed.stdout)
    assert result["verdict"] == "promoted" and result["applied"], result
    assert result["experiment"]["winner"] == "1.1.0", result

    html = tmp_path / "report.html"
    reported = cli("report", exp, "--html", str(html))
    assert reported.exit_code == 0 and "Decision log" in reported.stdout and "promote" in reported.stdout
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and 'class="boundary"' in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert lab.registry.get_prompt("p").active == {"1.1.0": 100.0}

    back = cli("rollback", exp, "--reason", "user complaints")
    assert back.exit_code == 0 and "rolled_back" in back.stdout
    assert lab.registry.get_prompt("p").labels["production"] == "1.0.0"


def test_pause_stop_and_manual_promotion(lab, cli):
    exp = str(
        json.loads(cli("create", "p", "--control", "1.0.0", "--treatment", "1.1.0", "--json").stdout)["id"]
    )
    assert "ramping" in cli("start", exp).stdout
    assert "paused" in cli("pause", exp, "--reason", "holiday").stdout
    assert "ramping" in cli("start", exp).stdout
    promoted = cli("promote", exp, "--arm", "treatment", "--reason", "the team prefers it")
    assert promoted.exit_code == 0 and "concluded" in promoted.stdout
    other = str(
        json.loads(cli("create", "p", "--control", "1.1.0", "--treatment", "1.0.0", "--json").stdout)["id"]
    )
    assert "stopped" in cli("stop", other).stdout


REFUSED = [
    (("create", "p", "--control", "1.0.0", "--treatment", "9.9.9"), "has no version 9.9.9"),
    (("create", "nope", "--control", "1.0.0", "--treatment", "1.1.0"), "unknown prompt 'nope'"),
    (
        ("create", "p", "--control", "1.0.0", "--treatment", "1.1.0", "--share", "70", "--share", "20"),
        "sum to 100",
    ),
    (
        ("create", "p", "--control", "1.0.0", "--treatment", "1.1.0", "--guardrail", "speed:0.1"),
        "unknown metric",
    ),
    (
        ("create", "p", "--control", "1.0.0", "--treatment", "1.1.0", "--guardrail", "latency_ms"),
        "METRIC:TOLERANCE",
    ),
    (
        ("create", "p", "--control", "1.0.0", "--treatment", "1.1.0", "--metric", "cost_usd"),
        "give min_sample",
    ),
    (("create", "p", "--control", "1.0.0", "--treatment", "1.0.0"), "must be different versions"),
    (("create", "p", "--control", "1.0.0", "--treatment", "1.1.0", "--mde", "1e-200"), "choose a larger MDE"),
    (("start", "42"), "no experiment with id 42"),
    (("start", "1"), "only a draft or paused one starts"),
    (("promote", "1"), "no winner yet"),
    (("promote", "1", "--arm", "control"), "stop the experiment"),
    (("rollback", "2"), "nothing to roll back"),
]


def test_refused_commands_exit_2_name_the_problem_and_write_nothing(lab, cli, db_snapshot):
    assert (
        cli(
            "create", "p", "--control", "1.0.0", "--treatment", "1.1.0", "--ramp", "none", "--start"
        ).exit_code
        == 0
    )
    assert cli("create", "p", "--control", "1.0.0", "--treatment", "1.1.0").exit_code == 0
    before = db_snapshot()
    for args, message in REFUSED:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.stderr and message in " ".join(result.stderr.split()), (args, result.stderr)
    assert db_snapshot() == before
