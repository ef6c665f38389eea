"""`promptevolve db backup` and `db restore`, on SQLite and PostgreSQL: a backup of a populated database,
taken while it is open, restores every row of every table after the data changed or the schema was
dropped; restoring over data needs --replace; bad paths, foreign files and missing tools exit 2 with
the reason, and a refused restore changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import delete
from tests.store.support import populate, rows
from typer.testing import CliRunner

from promptevolve.cli.app import app
from promptevolve.store.engine import Store
from promptevolve.store.migrate import downgrade, head_revision
from promptevolve.store.tables import Feedback


@pytest.fixture
def cli(database_url):
    runner = CliRunner()
    return lambda *args, env=None: runner.invoke(
        app, list(args), env={"PROMPTEVOLVE_DATABASE_URL": database_url, **(env or {})}
    )


@pytest.fixture
def populated(database_url, tmp_path, store) -> Store:
    populate(database_url, tmp_path)
    return store


def test_a_backup_restores_every_row_after_the_data_changed(cli, populated, tmp_path):
    before = rows(populated)
    path = tmp_path / "backup.pe"
    made = cli("db", "backup", str(path))
    assert made.exit_code == 0, made.output
    assert f"(schema {head_revision()})" in made.stdout and path.stat().st_size > 0
    with populated.write() as s:
        s.execute(delete(Feedback))
    assert rows(populated) != before

    refused = cli("db", "restore", str(path))
    assert refused.exit_code == 2 and "--replace" in refused.stderr
    assert rows(populated)["feedback"][1] == [], "a refused restore changes nothing"

    populated.dispose()  # the server would be stopped for a restore; our pool lets go of the file too
    done = cli("db", "restore", str(path), "--replace")
    assert done.exit_code == 0, done.output
    assert "restored" in done.stdout and "db upgrade" not in done.stdout
    assert rows(populated) == before


def test_a_backup_restores_into_a_database_whose_schema_was_dropped(cli, populated, tmp_path):
    before = rows(populated)
    path = tmp_path / "backup.pe"
    assert cli("db", "backup", str(path)).exit_code == 0
    downgrade(populated, "base")
    assert rows(populated) == {}
    populated.dispose()
    done = cli("db", "restore", str(path))
    assert done.exit_code == 0, done.output
    assert rows(populated) == before


def test_bad_paths_and_foreign_files_exit_2_with_the_reason(cli, store, tmp_path):
    existing = tmp_path / "there.pe"
    existing.write_text("not a backup")
    cases = [
        (("db", "backup", str(existing)), "already exists"),
        (("db", "backup", str(tmp_path / "no" / "dir" / "b.pe")), "no directory"),
        (("db", "restore", str(tmp_path / "missing.pe"), "--replace"), "no backup file"),
        (("db", "restore", str(existing), "--replace"), "is not a"),
        (("db", "restore", str(tmp_path), "--replace"), "no backup file"),
    ]
    before = rows(store)
    for args, reason in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error:") and reason in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
    assert rows(store) == before


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_without_the_postgresql_tools_the_command_names_what_is_missing(command, tmp_path):
    """Checked before the database is touched, so no database is needed to prove it."""
    target = tmp_path / "b.pe"
    if command == "restore":
        target.write_bytes(b"PGDMP")
    runner = CliRunner()
    env = {"PROMPTEVOLVE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "PATH": str(tmp_path)}
    result = runner.invoke(app, ["db", command, str(target)], env=env)
    tool = "pg_dump" if command == "backup" else "pg_restore"
    assert result.exit_code == 2, result.output
    assert f"{tool} is not on PATH" in result.stderr and "postgresql-client" in result.stderr
    assert target.exists() == (command == "restore")
