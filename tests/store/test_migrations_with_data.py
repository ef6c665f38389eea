"""Migrations walked down and up on a database that holds data, on SQLite and PostgreSQL.

The database is filled through the API and the SDK (prompts, variants, labels, an experiment with
exposures, executions, feedback, a dataset, keys, a dashboard session, an autopilot policy and
decision) plus one row in each
table only long processes write (scores, evolutions, the autopilot's lease, budget and drift state,
a job and a webhook delivery), so
every table holds rows. Then each downgrade, one revision at a time, must keep every row of every table
the older schema still has, in the columns it still has; each upgrade back must keep them too; and from
``base`` the upgrade must give exactly the declared schema again.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from tests.api.support import drive, gated_candidate, running_api, two_variants

from promptevolve.core.ids import new_id
from promptevolve.store.engine import Store
from promptevolve.store.migrate import current_revision, downgrade, head_revision, revisions, upgrade
from promptevolve.store.tables import (
    AutopilotBudget,
    AutopilotDrift,
    AutopilotLease,
    Base,
    Evolution,
    Execution,
    JobRow,
    PromptVariant,
    Score,
    WebhookDelivery,
)

Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def populate(url: str, tmp_path: Any) -> None:
    from tests.api.support import colour_dataset

    with running_api(url) as api:
        two_variants(api)
        plan = {"prompt": "p", "control": "1.0.0", "treatments": ["1.1.0"], "metric": "thumbs"}
        experiment = api.ok(api.post("/experiments", plan), 201)["id"]
        api.ok(api.post(f"/experiments/{experiment}/start", {}))
        drive(api.store, api.settings, units=30, thumbs={"1.0.0": 0.3, "1.1.0": 0.8})
        api.ok(api.client.patch("/prompts/p/autopilot", json={"autonomy": "propose"}, headers=api.headers()))
        gated_candidate(api.store, "p", "1.1.0")
        colour_dataset(api.store, tmp_path / "colours.jsonl", n=12)
        api.ok(api.post("/auth/sessions", who="read"), 201)
        with api.store.write() as s:
            execution = s.query(Execution).first()
            parent, child = s.query(PromptVariant).order_by(PromptVariant.id).limit(2).all()
            assert execution is not None
            s.add(Score(id=new_id(), execution_id=execution.id, metric="exact", value=1.0, ts=0.0))
            s.add(Evolution(prompt_id=parent.prompt_id, parent_variant_id=parent.id, strategy="fewshot"))
            s.add(AutopilotLease(prompt_id=parent.prompt_id, holder="h1", acquired_at=1.0, expires_at=2.0))
            s.add(AutopilotBudget(prompt_id=parent.prompt_id, day="2026-12-06", calls=3, tokens=40, rounds=1))
            s.add(AutopilotDrift(prompt_id=parent.prompt_id, variant_id=child.id, state={"cusum": 0.5}))
            s.add(JobRow(id=new_id(), kind="evolve", status="failed", payload={"prompt": "p"}, actor="a"))
            s.add(
                WebhookDelivery(
                    id=new_id(), url="http://x", event="ramp_step", body="{}", secret_env="S", status="new"
                )
            )


def rows(store: Store) -> Rows:
    """Every row of every table (alembic's own aside), by column name, in a stable order."""
    out: Rows = {}
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table == "alembic_version":
                continue
            columns = sorted(c["name"] for c in inspect(conn).get_columns(table))
            quoted = ", ".join(f'"{c}"' for c in columns)
            found = conn.exec_driver_sql(f'SELECT {quoted} FROM "{table}"').all()
            out[table] = (columns, sorted((tuple(r) for r in found), key=repr))
    return out


def _project(found: list[tuple[Any, ...]], columns: list[str], keep: list[str]) -> list[tuple[Any, ...]]:
    at = [columns.index(c) for c in keep]
    return sorted((tuple(row[i] for i in at) for row in found), key=repr)


def kept(before: Rows, after: Rows) -> list[str]:
    """Where ``after`` lost or changed a row that its schema still had room for."""
    problems = []
    for table, (columns, now) in after.items():
        if table not in before:
            continue
        old_columns, old_rows = before[table]
        shared = [c for c in columns if c in old_columns]
        if _project(old_rows, old_columns, shared) != _project(now, columns, shared):
            problems.append(f"{table}: {len(old_rows)} rows before, {len(now)} after, or values changed")
    return problems


def test_every_downgrade_and_upgrade_keeps_the_data_its_schema_holds(blank_database_url, tmp_path):
    store = Store.from_url(blank_database_url)
    upgrade(store)
    populate(blank_database_url, tmp_path)
    full = rows(store)
    empty = sorted(t for t, (_, r) in full.items() if not r)
    assert set(full) >= set(Base.metadata.tables) and not empty, f"tables left empty: {empty}"

    chain = revisions()
    assert chain[-1] == head_revision()
    for older in reversed(chain[:-1]):
        before = rows(store)
        assert downgrade(store, older) == older
        assert not kept(before, rows(store)), f"down to {older}: {kept(before, rows(store))}"
    oldest = rows(store)
    assert set(oldest) < set(full)  # the walk went somewhere: later tables are gone
    for newer in chain[1:]:
        before = rows(store)
        assert upgrade(store, newer) == newer
        assert not kept(before, rows(store)), f"up to {newer}: {kept(before, rows(store))}"
    assert not kept(oldest, rows(store))
    # What every revision kept, the upgrades kept too: the tables the first schema has hold what they held.
    assert {t: full[t] for t in oldest} == {t: rows(store)[t] for t in oldest}

    assert downgrade(store, "base") is None
    assert rows(store) == {}
    assert upgrade(store) == head_revision() == current_revision(store)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    store.dispose()
