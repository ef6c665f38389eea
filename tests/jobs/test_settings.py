"""Choosing the engine: embedded by default on every database; procrastinate only on PostgreSQL, refused
on SQLite with the reason; the settings read from the environment."""

from __future__ import annotations

import pytest

from promptevolve.core.errors import ConfigurationError
from promptevolve.jobs import EmbeddedQueue, JobDeps, JobSettings, load_job_settings, open_queue
from promptevolve.store.engine import Store


def test_the_default_engine_is_embedded_and_procrastinate_needs_postgresql(backend, store: Store) -> None:
    assert isinstance(open_queue(JobDeps(store=store), JobSettings()), EmbeddedQueue)
    if backend == "sqlite":
        with pytest.raises(ConfigurationError, match="needs PostgreSQL"):
            open_queue(JobDeps(store=store), JobSettings(engine="procrastinate"))
    else:
        from promptevolve.jobs.procrastinate_engine import ProcrastinateQueue

        assert isinstance(
            open_queue(JobDeps(store=store), JobSettings(engine="procrastinate")), ProcrastinateQueue
        )


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTEVOLVE_JOBS_ENGINE", "procrastinate")
    monkeypatch.setenv("PROMPTEVOLVE_JOBS_STALLED_S", "12")
    settings = load_job_settings()
    assert settings.engine == "procrastinate" and settings.stalled_s == 12.0 and settings.threads == 1


def test_a_bad_setting_names_the_environment_variable_and_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTEVOLVE_JOBS_ENGINE", "bogus")
    monkeypatch.setenv("PROMPTEVOLVE_JOBS_THREADS", "0")
    with pytest.raises(ConfigurationError) as caught:
        load_job_settings()
    message = str(caught.value)
    assert "PROMPTEVOLVE_JOBS_ENGINE='bogus'" in message and "'embedded' or 'procrastinate'" in message
    assert "PROMPTEVOLVE_JOBS_THREADS='0'" in message


def test_serve_refuses_a_bad_engine_with_exit_code_2_before_starting(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from typer.testing import CliRunner

    from promptevolve.cli.app import app

    monkeypatch.setenv("PROMPTEVOLVE_JOBS_ENGINE", "bogus")
    result = CliRunner().invoke(app, ["--database-url", f"sqlite:///{tmp_path / 'pe.db'}", "serve"])
    assert result.exit_code == 2, result.output
    assert "PROMPTEVOLVE_JOBS_ENGINE='bogus'" in result.output


@pytest.mark.parametrize(
    ("value", "days"), [("30", 30), ("7", 7), ("0", None), ("none", None), ("None", None)]
)
def test_retention_days_come_from_the_environment_and_zero_or_none_keep_jobs_forever(
    monkeypatch: pytest.MonkeyPatch, value: str, days: int | None
) -> None:
    monkeypatch.setenv("PROMPTEVOLVE_JOBS_RETENTION_DAYS", value)
    assert load_job_settings().retention_days == days


def test_retention_days_default_to_30() -> None:
    assert JobSettings().retention_days == 30


@pytest.mark.parametrize("value", ["-1", "soon", "1.5"])
def test_a_bad_retention_names_its_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PROMPTEVOLVE_JOBS_RETENTION_DAYS", value)
    with pytest.raises(ConfigurationError, match=f"PROMPTEVOLVE_JOBS_RETENTION_DAYS='{value}'"):
        load_job_settings()
