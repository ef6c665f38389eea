"""Scoring weights in ``prompts.config["scoring"]`` (SQLite and PostgreSQL): validated before anything is
written and stored with the version of their form; an unversioned document (written before versions)
is read as version 1, a document of a version this release cannot read is refused naming it; partial
changes made at the same time merge instead of losing one."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import update

from promptevolve.core.errors import ValidationError
from promptevolve.registry import Registry, VariantCreate, scoring_of, update_scoring
from promptevolve.scoring import SCORING_VERSION, ScoringConfig
from promptevolve.store.tables import Prompt


@pytest.fixture
def registry(store):
    registry = Registry(store, actor="tester")
    registry.register(VariantCreate(prompt="p", template="Hello {{ x }}"))
    return registry


def _store_raw(registry: Registry, scoring: object) -> None:
    """Write the section as an older release (or another one) left it, bypassing the registry."""
    with registry.store.write() as s:
        s.execute(update(Prompt).where(Prompt.name == "p").values(config={"scoring": scoring}))


def test_weights_are_stored_whole_with_their_version_and_read_back(registry):
    after = registry.update_config("p", {"scoring": {"weights": {"accuracy": 1.0}, "target_latency_ms": 800}})
    stored = after["scoring"]
    assert stored["version"] == SCORING_VERSION == 1
    assert stored["weights"] == {
        "accuracy": 1.0,
        "response_time": 0.2,
        "consistency": 0.2,
        "satisfaction": 0.2,
    }
    read = ScoringConfig.from_prompt_config(registry.get_config("p"))
    assert read.weights.accuracy == 1.0 and read.target_latency_ms == 800
    assert registry.history("p", limit=1)[0].after["scoring"] == stored, "audited as stored"


def test_an_unversioned_section_is_read_as_version_1_and_stored_versioned_when_next_written(registry):
    _store_raw(registry, {"weights": {"satisfaction": 0.0}, "min_coverage": 0.5})
    read = ScoringConfig.from_prompt_config(registry.get_config("p"))
    assert (read.weights.satisfaction, read.min_coverage) == (0.0, 0.5)
    assert read.to_stored() == {"version": 1, **read.model_dump(mode="json")}
    registry.update_config("p", {"scoring": registry.get_config("p")["scoring"]})
    assert registry.get_config("p")["scoring"] == read.to_stored()


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"weights": {"accuracy": -1}}, "weights.accuracy"),
        ({"weights": {"accuracy": 0, "response_time": 0, "consistency": 0, "satisfaction": 0}}, "weights"),
        (
            {"weights": {"accuracy": 1e308, "response_time": 1e308}},
            "weights: Value error, the weights' sum must be finite",
        ),
        ({"target_latency_ms": 0}, "target_latency_ms"),
        ({"accuracy_sources": ["oracle"]}, "accuracy_sources"),
        ({"colour": "blue"}, "colour"),
        ({"version": 99}, "version: 99"),
    ],
)
def test_a_bad_section_is_refused_naming_the_field_and_nothing_is_written(
    registry, db_snapshot, section, named
):
    registry.update_config("p", {"scoring": {"min_coverage": 0.25}})
    before = db_snapshot()
    with pytest.raises(ValidationError, match=named.replace(".", r"\.")):
        registry.update_config("p", {"scoring": section})
    assert db_snapshot() == before
    _store_raw(registry, section)  # a document some other release stored is refused when read
    with pytest.raises(ValidationError, match=r"prompts\.config\['scoring'\]"):
        ScoringConfig.from_prompt_config(registry.get_config("p"))


def test_partial_changes_made_at_once_both_land(registry):
    """``update_scoring`` merges under the prompt's row lock (``change_config``): a change that waits for
    the lock merges into what the first one committed, instead of into what it read before."""
    inside, release = threading.Event(), threading.Event()

    def slow(config):
        inside.set()
        assert release.wait(10)
        return {"scoring": {**config.get("scoring", {}), "weights": {"accuracy": 0.9}}}

    first = threading.Thread(target=registry.change_config, args=("p", slow))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=update_scoring, args=(registry, "p", {"weights": {"satisfaction": 0.7}}))
    second.start()
    time.sleep(0.3)  # the second is waiting for the lock (were it not, the test would pass without proving)
    release.set()
    first.join(10)
    second.join(10)
    weights = scoring_of(registry, "p").config.weights
    assert (weights.accuracy, weights.satisfaction) == (0.9, 0.7)
