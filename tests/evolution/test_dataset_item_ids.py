"""Items given from Python without an id get one by position, as JSONL lines get their line number;
duplicate ids are a ValidationError naming them, never the database's unique index."""

from __future__ import annotations

import pytest

from promptevolve.core.errors import ValidationError
from promptevolve.evolution.datasets import ItemIn, import_items, list_datasets, load_examples
from promptevolve.store.engine import Store


def test_items_without_an_id_are_stored_under_their_position(store: Store) -> None:
    items = [ItemIn(inputs={"x": str(n)}, expected=str(n)) for n in range(3)]
    items.append(ItemIn(id="mine", inputs={"x": "3"}, expected="3"))
    info = import_items(store, "no-ids", items)
    assert info.size == 4
    stored = {e.key: e.inputs["x"] for e in load_examples(store, "no-ids")}
    assert stored == {"item-1": "0", "item-2": "1", "item-3": "2", "mine": "3"}
    assert all(item.id is None for item in items[:3])  # the caller's objects are left as they were


def test_duplicate_ids_are_refused_by_name_and_nothing_is_stored(store: Store) -> None:
    items = [ItemIn(id="item-2", inputs={"x": "a"}, expected="a"), ItemIn(inputs={"x": "b"}, expected="b")]
    with pytest.raises(ValidationError, match="duplicate item ids item-2"):
        import_items(store, "clash", items)
    assert [d.name for d in list_datasets(store)] == []
