"""The bulk writer stores what its rows say, on both databases, whatever the batch's shape."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from promptevolve.core.errors import StoreError
from promptevolve.core.ids import new_id
from promptevolve.store.tables import Execution
from promptevolve.store.writes import JsonText, bulk_insert


def _stored(store) -> dict[str, tuple]:
    with store.read() as s:
        found = s.execute(select(Execution.id, Execution.source, Execution.output, Execution.variables))
        return {row.id: (row.source, row.output, row.variables) for row in found}


def test_rows_with_different_keys_are_written_with_the_union_of_their_columns(store) -> None:
    full = {"id": new_id(), "status": "ok", "ts": 1.0, "output": "a", "source": "track"}
    short = {"id": new_id(), "status": "ok", "ts": 2.0}  # no output, no source
    other = {"id": new_id(), "status": "ok", "ts": 3.0, "variables": {"x": 1}}  # a key no other row has
    assert bulk_insert(store, Execution.__table__, [full, short, other]) == 3
    assert _stored(store) == {
        full["id"]: ("track", "a", None),
        short["id"]: ("run", None, None),  # a missing value takes the column's default, else NULL
        other["id"]: ("run", None, {"x": 1}),
    }


def test_json_values_round_trip_as_given(store) -> None:
    variables = {"name": "Zoë 東京", "nested": {"list": [1, 2.5, None, True]}, "quote": 'a"b\\c\n'}
    rows = [{"id": new_id(), "status": "ok", "ts": float(i), "variables": variables} for i in range(3)]
    rows.append({"id": new_id(), "status": "ok", "ts": 9.0, "variables": None})
    bulk_insert(store, Execution.__table__, rows)
    stored = _stored(store)
    assert [stored[row["id"]][2] for row in rows] == [variables, variables, variables, None]


def test_a_value_json_cannot_hold_rejects_the_batch_as_bad_data(store) -> None:
    cyclic: dict = {}
    cyclic["self"] = cyclic
    row = {"id": new_id(), "status": "ok", "ts": 1.0, "variables": cyclic}
    with pytest.raises(StoreError, match="writing executions"):
        bulk_insert(store, Execution.__table__, [row])
    assert _stored(store) == {}


def test_json_already_encoded_is_stored_as_given(store) -> None:
    row = {"id": new_id(), "status": "ok", "ts": 1.0, "variables": JsonText('{"a":[1,"é"],"b":null}')}
    bulk_insert(store, Execution.__table__, [row])
    assert _stored(store)[row["id"]][2] == {"a": [1, "é"], "b": None}
