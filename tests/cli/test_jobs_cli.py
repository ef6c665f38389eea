"""`promptevolve jobs prune`: counts with --dry-run, deletes what finished before --older-than (or the
retention setting), prints JSON for scripts; a bad duration, or no duration while jobs are kept
forever, exits 2 naming what to fix, before the store is touched."""

from __future__ import annotations

import json

import pytest
from tests.jobs.support import delivery, job, job_ids
from typer.testing import CliRunner

from promptevolve.cli.app import app
from promptevolve.store.engine import Store


@pytest.fixture
def cli(database_url):
    runner = CliRunner()

    def invoke(*args: str, **env: str):
        return runner.invoke(app, list(args), env={"PROMPTEVOLVE_DATABASE_URL": database_url, **env})

    return invoke


def test_prune_counts_with_dry_run_then_deletes_what_is_older_than_asked(cli, store: Store) -> None:
    old = job(store, "succeeded", age_days=10)
    recent = job(store, "succeeded", age_days=1)
    queued = job(store, "queued", age_days=10, finished=False)
    delivery(store, "delivered", age_days=10)

    counted = cli("jobs", "prune", "--older-than", "7d", "--dry-run", "--json")
    assert counted.exit_code == 0, counted.output
    report = json.loads(counted.stdout)
    assert (report["jobs"], report["deliveries"], report["dry_run"]) == (1, 1, True)
    assert old in job_ids(store)

    done = cli("jobs", "prune", "--older-than", "7d")
    assert done.exit_code == 0, done.output
    assert "deleted 1 job and 1 webhook delivery finished before" in done.stdout
    assert job_ids(store) == {recent, queued}


def test_prune_without_older_than_uses_the_retention_setting(cli, store: Store) -> None:
    job(store, "failed", age_days=31)
    kept = job(store, "failed", age_days=29)
    done = cli("jobs", "prune", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["jobs"] == 1 and job_ids(store) == {kept}
    week = cli("jobs", "prune", "--json", PROMPTEVOLVE_JOBS_RETENTION_DAYS="7")
    assert week.exit_code == 0 and json.loads(week.stdout)["jobs"] == 1 and job_ids(store) == set()


@pytest.mark.parametrize("bad", ["soon", "0", "-3d", "30x"])
def test_a_bad_duration_exits_2_naming_the_option(cli, store: Store, bad: str) -> None:
    old = job(store, "succeeded", age_days=400)
    result = cli("jobs", "prune", "--older-than", bad)
    assert result.exit_code == 2, result.output
    assert "bad --older-than duration" in result.output and repr(bad) in result.output
    assert old in job_ids(store)


def test_prune_refuses_to_guess_when_jobs_are_kept_forever(cli, store: Store) -> None:
    old = job(store, "succeeded", age_days=400)
    result = cli("jobs", "prune", PROMPTEVOLVE_JOBS_RETENTION_DAYS="none")
    assert result.exit_code == 2, result.output
    assert "PROMPTEVOLVE_JOBS_RETENTION_DAYS" in result.output and "--older-than" in result.output
    assert old in job_ids(store)
    bad = cli("jobs", "prune", PROMPTEVOLVE_JOBS_RETENTION_DAYS="soon")
    assert bad.exit_code == 2 and "PROMPTEVOLVE_JOBS_RETENTION_DAYS='soon'" in bad.output
