"""`promptevolve autopilot …`: policies, a pass, the loop, status, approvals from the command line, and
refused commands (exit code 2, a message naming the problem, nothing written)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from tests.autopilot.support import PROMPT, make_world, set_policy
from typer.testing import CliRunner

from promptevolve.cli.app import app
from promptevolve.cli.autopilot import parse_duration
from promptevolve.core.errors import ValidationError


@pytest.fixture
def world(store):
    world = make_world(store)
    yield world
    world.close()


@pytest.fixture
def cli(database_url):
    runner = CliRunner()

    def run(*args: str):
        env = {"PROMPTEVOLVE_DATABASE_URL": database_url, "PROMPTEVOLVE_ACTOR": "cli-test"}
        return runner.invoke(app, ["autopilot", *args], env=env)

    return run


def test_a_policy_is_set_shown_and_changed_from_the_command_line(world, cli):
    result = cli(
        "policy", PROMPT, "--autonomy", "propose", "--min-feedback", "20", "--daily-calls", "80",
        "--daily-tokens", "40000", "--quiet-hours", "22-06", "--timezone", "Europe/Paris",
        "--guardrail", "latency_ms:0.1", "--guardrail", "error_rate:0.02:abs", "--ramp", "10,50,100",
        "--strategy", "few_shot", "--no-drift", "-E", "labels=warm,cold", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["autonomy"], doc["daily_calls"], doc["daily_tokens"], doc["quiet_hours"]) == (
        "propose",
        80,
        40000,
        "22:00-06:00",
    )
    assert doc["experiment"]["guardrails"][1] == {
        "metric": "error_rate",
        "tolerance": 0.02,
        "relative": False,
    }
    assert doc["evolution"] == {**doc["evolution"], "min_feedback": 20, "strategies": ["few_shot"]}
    assert doc["evolution"]["evaluator_options"] == {"labels": ["warm", "cold"]}
    assert doc["drift"]["enabled"] is False and doc["experiment"]["ramp"] == [10.0, 50.0, 100.0]
    changed = cli("policy", PROMPT, "--daily-tokens", "none", "--json")
    assert (
        json.loads(changed.stdout)["daily_tokens"] is None and json.loads(changed.stdout)["daily_calls"] == 80
    )
    shown = cli("policy", PROMPT)
    assert shown.exit_code == 0 and "autonomy = propose" in shown.stdout
    history = [h for h in world.registry.history(PROMPT) if h.action == "config"]
    assert [h.actor for h in history] == ["cli-test", "cli-test"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["policy", PROMPT, "--autonomy", "yolo"], "autonomy"),
        (["policy", PROMPT, "--quiet-hours", "25-06"], "bad quiet hours"),
        (["policy", PROMPT, "--guardrail", "latency_ms"], "bad --guardrail"),
        (["policy", PROMPT, "--daily-tokens", "lots"], "bad --daily-tokens"),
        (["policy", "nope", "--autonomy", "observe"], "unknown prompt 'nope'"),
        (["run"], "give --once"),
        (["serve", "--interval", "soon"], "bad duration"),
        (["approve", PROMPT, "1.1.0"], "not a candidate awaiting approval"),
        (["reject", PROMPT, "1.1.0"], "not a candidate awaiting approval"),
    ],
)
def test_refused_commands_exit_2_and_write_nothing(world, cli, db_snapshot, args, message):
    set_policy(world, "propose")
    before = db_snapshot()
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert db_snapshot() == before


def test_one_pass_and_the_status_from_the_command_line(world, cli):
    set_policy(world, "observe")
    world.traffic(120)
    result = cli("run", "--once", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [prompt] = report["prompts"]
    assert prompt["outcome"] == "done" and prompt["steps"][0]["reason"].startswith(
        "observe only: would evolve"
    )
    status = json.loads(cli("status", "--json").stdout)["prompts"][0]
    assert status["step"] == "observing" and status["budget"]["calls_limit"] == 1200
    assert status["last_actions"][0]["action"] == "skip"
    table = cli("status", PROMPT)
    assert table.exit_code == 0 and "observing" in table.stdout and "budget today" in table.stdout
    looped = cli("serve", "--interval", "1s", "--max-passes", "2")
    assert looped.exit_code == 0 and "stopped after 2 passes" in looped.stdout
    assert "not logged again" in looped.stdout, "the same wait is not written twice"


def test_a_candidate_is_approved_from_the_command_line(world, cli):
    set_policy(world, "propose")
    world.traffic(300)
    report = world.autopilot().run_once()
    candidate = report.prompts[0].steps[0].figures["candidate"]
    assert report.prompts[0].steps[-1].action == "awaiting_approval", report.prompts[0].steps
    approved = cli("approve", PROMPT, candidate)
    assert approved.exit_code == 0 and "experiment_started" in approved.stdout, approved.output
    status = json.loads(cli("status", "--json").stdout)["prompts"][0]
    assert status["step"] == "ramping" and status["experiment"]["treatment"] == candidate
    assert status["last_actions"][0]["actor"] == "cli-test"


def test_durations_read_like_people_write_them():
    assert [parse_duration(x) for x in ("30s", "5m", "1h", "1.5m", "90")] == [30, 300, 3600, 90, 90]
    with pytest.raises(ValidationError):
        parse_duration("0m")


def test_serve_stops_gracefully_on_sigterm(tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    env = {**os.environ, "PROMPTEVOLVE_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptevolve.cli.app", "autopilot", "serve", "--interval", "1s"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in proc.stdout:  # wait for the first pass
            lines.append(line)
            if line.startswith("pass by"):
                break
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, "".join(lines) + out
    assert "signal SIGTERM" in out and "stopped after" in out
