"""The executions list can read its page from an index instead of sorting the table (bench/pg_scale.py
measured the sort: seconds at millions of rows). Plans are read from each database's EXPLAIN on empty
tables, with the alternatives made expensive, so they show what the database *can* use."""

from __future__ import annotations

import re

from sqlalchemy.dialects import postgresql, sqlite

from promptevolve.registry import Registry, VariantCreate
from promptevolve.tracking.executions import ExecutionFilter, _query


def _plan(store, f: ExecutionFilter) -> str:
    with store.read() as s:
        query = _query(s, f)
        assert query is not None
        with store.engine.connect() as conn:
            dialect = postgresql.dialect() if conn.dialect.name == "postgresql" else sqlite.dialect()
            sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            if conn.dialect.name == "postgresql":
                for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                    conn.exec_driver_sql(f"SET {setting} = off")
                return " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
            return " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


def _sorts_every_row(plan: str) -> bool:
    """A sort of the whole result; sorting only ties on ``ts`` by id (incremental) is fine."""
    return (
        "TEMP B-TREE FOR ORDER BY" in plan or re.search(r"(?<!Incremental )Sort\s+\(cost", plan) is not None
    )


def test_the_newest_executions_page_reads_the_time_index(store):
    plan = _plan(store, ExecutionFilter(limit=51))
    assert "ix_executions_ts" in plan and not _sorts_every_row(plan), plan


def test_a_version_page_reads_a_time_ordered_index_once_names_are_ids(store):
    registry = Registry(store)
    registry.register(VariantCreate(prompt="greet", template="Hi {{ who }}"))
    plan = _plan(store, ExecutionFilter(prompt="greet", version="1.0.0", limit=51, offset=4_950))
    assert re.search(r"ix_executions_(variant|prompt)_ts", plan) and not _sorts_every_row(plan), plan


def test_an_unknown_prompt_or_version_is_an_empty_page_without_a_query(store):
    Registry(store).register(VariantCreate(prompt="greet", template="Hi {{ who }}"))
    with store.read() as s:
        assert _query(s, ExecutionFilter(prompt="nope")) is None
        assert _query(s, ExecutionFilter(prompt="greet", version="9.9.9")) is None
        assert _query(s, ExecutionFilter(version="1.0.0")) is not None


def test_an_experiment_page_reads_the_experiment_time_index(store):
    plan = _plan(store, ExecutionFilter(experiment_id=7, limit=51, offset=50))
    assert "ix_executions_experiment_ts" in plan and not _sorts_every_row(plan), plan
