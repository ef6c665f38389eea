"""Text no database can hold (NUL, lone surrogates) is refused the same way on SQLite and PostgreSQL,
in every column a caller's input reaches, and nothing of the refused write is stored; what merely
looks like such text (the six characters ``\\u0000``) is stored as it is."""

from __future__ import annotations

from typing import Any

import pytest

from promptevolve.compose import compose
from promptevolve.core.errors import UnstorableValueError
from promptevolve.core.types import ModelSettings
from promptevolve.evolution.datasets import ItemIn, import_items
from promptevolve.experiments.models import ExperimentCreate
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store

SCRIPTED = ModelSettings(provider="scripted")
UNSTORABLE = ["nul\x00inside", "lone \ud800 surrogate"]


def _register(store: Store, template: str = "Hi {{ x }}", **fields: Any) -> None:
    fields.setdefault("settings", SCRIPTED)
    Registry(store).register(VariantCreate(prompt="p", template=template, **fields))


@pytest.mark.parametrize("bad", UNSTORABLE, ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("field", "column"),
    [
        ("description", "prompts.description"),
        ("rationale", "prompt_variants.rationale"),
        ("author", "prompts.created_by"),
        ("meta", "prompt_variants.meta"),
        ("settings", "prompt_variants.settings"),
    ],
)
def test_registering_unstorable_text_in_any_field_is_refused_naming_the_column(
    store: Store, db_snapshot: Any, field: str, column: str, bad: str
) -> None:
    before = db_snapshot()
    value: Any = bad
    if field == "meta":
        value = {"note": [bad]}
    elif field == "settings":
        value = ModelSettings(provider="scripted", model=bad)
    with pytest.raises(UnstorableValueError, match=f"cannot store {column}: the value contains"):
        _register(store, **{field: value})
    assert db_snapshot() == before


@pytest.mark.parametrize("bad", UNSTORABLE, ids=["nul", "surrogate"])
def test_a_dataset_item_with_unstorable_text_refuses_the_whole_import(
    store: Store, db_snapshot: Any, bad: str
) -> None:
    before = db_snapshot()
    items = [ItemIn(id="a", inputs={"x": "fine"}, expected="a"), ItemIn(id="b", inputs={"x": bad})]
    with pytest.raises(UnstorableValueError, match="dataset_items.inputs"):
        import_items(store, "d", items)
    with pytest.raises(UnstorableValueError, match="dataset_items.expected"):
        import_items(store, "d", [ItemIn(id="a", inputs={"x": "fine"}, expected={"label": bad})])
    assert db_snapshot() == before


def test_an_experiment_name_with_a_nul_is_refused(store: Store) -> None:
    _register(store)
    _register(store, "Hello {{ x }}", version="1.1.0")
    service = compose(store).experiments
    with pytest.raises(UnstorableValueError, match="experiments.name"):
        service.create(ExperimentCreate(prompt="p", control="1.0.0", treatments=["1.1.0"], name="a\x00b"))
    assert service.list() == []


def test_text_that_only_looks_like_a_nul_escape_is_stored_as_it_is(store: Store) -> None:
    looks = "a literal \\u0000 and \\\\u0000 in the text"
    _register(store, description=looks, rationale=looks, meta={"k": looks})
    variant = Registry(store).get_variant("p", "1.0.0")
    assert variant.rationale == looks and variant.meta == {"k": looks}
    info = import_items(store, "d", [ItemIn(id="a", inputs={"x": looks}, expected=looks)])
    assert info.size == 1
