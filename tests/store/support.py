"""Databases that hold data, for the migration tests: filled through the API and the SDK so that every
table holds rows, read back table by table, and compared column by column."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import inspect
from tests.api.support import drive, gated_candidate, running_api, two_variants

from promptevolve.core.ids import new_id
from promptevolve.store.engine import Store
from promptevolve.store.tables import (
    AutopilotBudget,
    AutopilotDrift,
    AutopilotLease,
    Evolution,
    Execution,
    JobRow,
    PromptVariant,
    Score,
    WebhookDelivery,
)

__all__ = ["Rows", "kept", "populate", "rows"]

Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def populate(url: str, tmp_path: Any) -> None:
    from tests.api.support import colour_dataset

    with running_api(url) as api:
        two_variants(api)
        plan = {"prompt": "p", "control": "1.0.0", "treatments": ["1.1.0"], "metric": "thumbs"}
        experiment = api.ok(api.post("/experiments", plan), 201)["id"]
        api.ok(api.post(f"/experiments/{experiment}/start", {}))
        drive(api.store, api.settings, units=30, thumbs={"1.0.0": 0.3, "1.1.0": 0.8})
        # Reads that build rollups (0009); the score written below is then logged as a change.
        api.ok(api.get(f"/experiments/{experiment}/analysis", "read"))
        api.ok(api.get("/metrics/prompts/p/variants/1.0.0", "read"))
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


def _experiment_config(value: Any) -> Any:
    """An experiment's config without the copies of its columns that revisions before 0013 kept in
    ``config["state"]`` (0013 drops them, its downgrade writes them back from the columns: the same
    data in another form; tests/experiments/test_state_stored_once.py checks that rewrite itself)."""
    doc = json.loads(value) if isinstance(value, str) else value
    state = doc.get("state") if isinstance(doc, dict) else None
    if not isinstance(state, dict):
        return doc
    return {**doc, "state": {k: v for k, v in state.items() if k not in ("status", "shares_bp", "step")}}


#: Columns a migration rewrites into another form of the same data, and that form's common denominator.
_FORMS = {("experiments", "config"): _experiment_config}


def _in_common_form(table: str, found: list[tuple[Any, ...]], columns: list[str]) -> list[tuple[Any, ...]]:
    forms = [(i, _FORMS[(table, c)]) for i, c in enumerate(columns) if (table, c) in _FORMS]
    if not forms:
        return found
    out = []
    for row in found:
        values = list(row)
        for i, form in forms:
            values[i] = form(values[i])
        out.append(tuple(values))
    return out


def kept(before: Rows, after: Rows) -> list[str]:
    """Where ``after`` lost or changed a row that its schema still had room for (a column a migration
    rewrites into another form of the same data, ``_FORMS``, is compared in their common form)."""
    problems = []
    for table, (columns, now) in after.items():
        if table not in before:
            continue
        old_columns, old_rows = before[table]
        shared = [c for c in columns if c in old_columns]
        old_rows = _in_common_form(table, old_rows, old_columns)
        now = _in_common_form(table, now, columns)
        if _project(old_rows, old_columns, shared) != _project(now, columns, shared):
            problems.append(f"{table}: {len(old_rows)} rows before, {len(now)} after, or values changed")
    return problems
