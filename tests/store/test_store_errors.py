"""The store translates the database's errors once: a refused value is ``StoreValueError``, whichever
unit of work ran it, so callers (the API's 422) never look behind a ``StoreError``."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from promptevolve.core.errors import StoreError, StoreValueError
from promptevolve.store.engine import Store
from promptevolve.store.writes import write_transaction

OUT_OF_RANGE = text("SELECT CAST(:v AS INTEGER)")


def test_a_value_out_of_range_is_a_store_value_error_in_each_unit_of_work(store: Store, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("SQLite's INTEGER holds 64 bits and its driver refuses larger ints before the database")
    with pytest.raises(StoreValueError, match="store error at"), store.read() as s:
        s.execute(OUT_OF_RANGE, {"v": 2**40})
    with pytest.raises(StoreValueError, match="probing failed"), write_transaction(store, "probing") as conn:
        conn.execute(OUT_OF_RANGE, {"v": 2**40})


def test_other_refusals_stay_store_errors(store: Store) -> None:
    with pytest.raises(StoreError) as caught, store.read() as s:
        s.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(caught.value, StoreValueError)
