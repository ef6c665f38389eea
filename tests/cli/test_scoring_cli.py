"""`promptevolve scoring show|set`: the scoring in effect (defaults filled, stored or not), changed by
options that merge into it (audited), and refused commands (exit code 2, a message naming the option and
the problem, nothing written)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from promptevolve.cli.app import app
from promptevolve.registry import Registry, VariantCreate


@pytest.fixture
def registry(store):
    registry = Registry(store, actor="tester")
    registry.register(VariantCreate(prompt="p", template="Hello {{ x }}"))
    return registry


@pytest.fixture
def cli(database_url):
    runner = CliRunner()

    def run(*args: str):
        env = {"PROMPTEVOLVE_DATABASE_URL": database_url, "PROMPTEVOLVE_ACTOR": "cli-test"}
        return runner.invoke(app, ["scoring", *args], env=env)

    return run


def test_show_gives_the_defaults_until_set_merges_options_into_a_stored_scoring(registry, cli):
    shown = cli("show", "p")
    assert shown.exit_code == 0, shown.output
    assert "the defaults: nothing stored" in shown.stdout and "weights.accuracy = 0.4" in shown.stdout
    assert "weights sum to 1: the composite uses them as given" in shown.stdout
    default = json.loads(cli("show", "p", "--json").stdout)
    assert default["stored"] is False and default["config"]["target_latency_ms"] == 2000
    result = cli(
        "set", "p", "--accuracy", "0.5", "--response-time", "0.1", "--target-latency-ms", "1500",
        "--accuracy-source", "correction", "--accuracy-source", "evaluator", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["stored"] is True and doc["normalised"] is True and doc["weights_sum"] == pytest.approx(1.0)
    assert doc["config"]["weights"] == {
        "accuracy": 0.5,
        "response_time": 0.1,
        "consistency": 0.2,
        "satisfaction": 0.2,
    }, "weights not given keep their value"
    assert doc["config"]["accuracy_sources"] == ["correction", "evaluator"]
    merged = cli("set", "p", "--satisfaction", "0.6", "--min-coverage", "0.25")
    assert merged.exit_code == 0, merged.output
    assert "p: updated (stored)" in merged.stdout and "target_latency_ms = 1500" in merged.stdout
    assert "weights sum to 1.4, not 1: normalised by the composite to accuracy 35.7%" in merged.stdout
    shown = json.loads(cli("show", "p", "--json").stdout)
    weights = {**doc["config"]["weights"], "satisfaction": 0.6}
    assert shown["config"] == {**doc["config"], "weights": weights, "min_coverage": 0.25}
    assert (shown["weights_sum"], shown["normalised"]) == (pytest.approx(1.4), False)
    assert shown["shares"] == pytest.approx({c: w / 1.4 for c, w in weights.items()})
    changes = [h for h in registry.history("p") if h.action == "config"]
    assert [h.actor for h in changes] == ["cli-test", "cli-test"]
    assert changes[0].before["scoring"]["weights"]["satisfaction"] == 0.2
    assert changes[0].after["scoring"] == {"version": 1, **shown["config"]}, "audited as stored"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accuracy", "-1"], "--accuracy: Input should be greater than or equal to 0"),
        (["--accuracy", "nan"], "--accuracy: Input should be a finite number"),
        (["--consistency", "inf"], "--consistency: Input should be a finite number"),
        (["--accuracy", "1e308", "--response-time", "1e308"], "the weights' sum must be finite"),
        (["--accuracy", "0"], "--accuracy, --response-time, --consistency, --satisfaction: at least one"),
        (["--accuracy", "lots"], "Invalid value for '--accuracy'"),
        (["--target-latency-ms", "0"], "--target-latency-ms: Input should be greater than 0"),
        (["--accuracy-source", "oracle"], "--accuracy-source: Input should be 'evaluator'"),
        (["--min-coverage", "1.5"], "--min-coverage: Input should be less than or equal to 1"),
        ([], "nothing to change: give at least one of --accuracy, --response-time"),
    ],
)
def test_refused_changes_exit_2_naming_the_option_and_write_nothing(
    registry, cli, db_snapshot, args, message
):
    registry.update_config(
        "p", {"scoring": {"weights": {"response_time": 0, "consistency": 0, "satisfaction": 0}}}
    )  # so that --accuracy 0 leaves no weight above 0 once merged
    before = db_snapshot()
    result = cli("set", "p", *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split()), result.stderr
    assert db_snapshot() == before


def test_an_unknown_prompt_is_refused_by_show_and_set(registry, cli, db_snapshot):
    before = db_snapshot()
    for args in (["show", "nope"], ["set", "nope", "--accuracy", "1"]):
        result = cli(*args)
        assert result.exit_code == 2 and "unknown prompt 'nope'" in result.stderr, result.output
    assert db_snapshot() == before
