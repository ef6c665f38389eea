from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from promptevolve.core.errors import ConfigurationError, SchemaOutOfDateError, StoreError
from promptevolve.core.settings import Settings
from promptevolve.store.engine import Store
from promptevolve.store.migrate import head_revision, open_store, schema_status, upgrade
from promptevolve.store.tables import Base


def test_blank_database_migrates_to_exactly_the_declared_schema(blank_database_url):
    store = Store.from_url(blank_database_url)
    assert schema_status(store) == (None, head_revision())
    assert upgrade(store) == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    assert diff == [], f"migrations and tables.py disagree: {diff}"
    assert set(Base.metadata.tables) <= tables
    store.dispose()


def test_upgrade_twice_is_harmless(blank_database_url):
    store = Store.from_url(blank_database_url)
    upgrade(store)
    assert upgrade(store) == head_revision()
    store.dispose()


def test_sqlite_opens_migrated_by_default(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    store = open_store(Settings(database_url=url))
    assert schema_status(store)[0] == head_revision()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


def test_unmigrated_database_without_auto_migrate_says_how_to_fix_it(blank_database_url):
    with pytest.raises(SchemaOutOfDateError, match="promptevolve db upgrade"):
        open_store(Settings(database_url=blank_database_url, auto_migrate=False))


def test_default_migrates_sqlite_but_not_a_server_database(backend, blank_database_url):
    settings = Settings(database_url=blank_database_url)
    if backend == "postgres":
        with pytest.raises(SchemaOutOfDateError):
            open_store(settings)
    else:
        store = open_store(settings)
        assert schema_status(store)[0] == head_revision()
        store.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "bad database URL"),
        ("postgresql+nodriver://x/y", "bad database URL"),
        ("oracle://u@h/db", "unsupported database"),
    ],
)
def test_bad_database_urls_are_configuration_errors(url, message):
    with pytest.raises(ConfigurationError, match=message):
        open_store(Settings(database_url=url))


def test_unreachable_database_is_a_store_error():
    with pytest.raises(StoreError, match="127.0.0.1:1"):
        open_store(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none"))


def test_experiment_queries_can_use_the_partial_experiment_index(store):
    """The index leaves out executions served outside an experiment (migration 0004); the experiment
    sums filter on ``experiment_id = :id``, which each database must see implies ``IS NOT NULL``, or
    it could never read the index. Sequential scans are discouraged so an empty table still shows it."""
    query = "SELECT arm, count(*) FROM executions WHERE experiment_id = 7 AND arm IS NOT NULL GROUP BY arm"
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            definition = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_executions_experiment_arm'"
                " AND schemaname = current_schema()"
            ).scalar_one()
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {query}"))
        else:
            definition = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_executions_experiment_arm'"
            ).scalar_one()
            plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
    assert "WHERE experiment_id IS NOT NULL" in definition.replace("(", "").replace(")", ""), definition
    assert "ix_executions_experiment_arm" in plan, plan


def test_the_migrations_form_one_numbered_line():
    """Two branches that each add a migration merge cleanly in git and leave Alembic two heads, which
    only ``upgrade`` would notice, at a user's start-up. The files must chain one after the other: file
    N's ``down_revision`` is file N-1's revision, numbered without gaps, and there is one head."""
    from importlib import import_module
    from importlib.resources import files

    from alembic.script import ScriptDirectory

    from promptevolve.store.migrate import _config

    script = ScriptDirectory.from_config(_config())
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    folder = files("promptevolve.store.migrations") / "versions"
    names = sorted(p.name[:-3] for p in folder.iterdir() if p.name[:4].isdigit() and p.name.endswith(".py"))
    assert [int(n[:4]) for n in names] == list(range(1, len(names) + 1)), names
    previous = None
    for name in names:
        module = import_module(f"promptevolve.store.migrations.versions.{name}")
        assert module.down_revision == previous, f"{name} follows {module.down_revision}, not {previous}"
        previous = module.revision
    assert previous == head_revision()
