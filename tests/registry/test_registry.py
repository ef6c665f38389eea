from __future__ import annotations

import pytest

from promptevolve.core.errors import (
    DuplicateVersionError,
    NotFoundError,
    TemplateError,
    TrafficShareError,
    ValidationError,
    VersionFormatError,
)
from promptevolve.core.types import ModelSettings, VariantKind
from promptevolve.registry import Registry, VariantCreate

CHAT = [
    {"role": "system", "content": "You are a careful analyst."},
    {"role": "user", "content": "Describe {{ company }} in {{ country }}."},
]


@pytest.fixture
def registry(store):
    return Registry(store, actor="tester")


def _register(registry, template=None, **kw):
    return registry.register(VariantCreate(prompt=kw.pop("prompt", "p"), template=template or CHAT, **kw))


def test_first_variant_is_baseline_1_0_0_and_inactive(registry):
    result = _register(registry, description="demo", locale="en")
    v = result.variant
    assert result.created
    assert (v.version, v.kind, v.active, v.share) == ("1.0.0", VariantKind.BASELINE, False, 0.0)
    assert v.variables == ["company", "country"]
    assert registry.get_prompt("p").locale == "en"


def test_same_content_twice_returns_the_existing_variant(registry, db_snapshot):
    first = _register(registry).variant
    before = db_snapshot()
    again = _register(registry, rationale="other words", version="9.9.9")
    assert not again.created
    assert again.variant.id == first.id
    assert db_snapshot() == before


def test_versions_bump_by_what_changed(registry):
    _register(registry)
    text_change = [CHAT[0], {"role": "user", "content": "Describe {{ company }} ({{ country }})."}]
    minor = _register(registry, text_change).variant
    assert (minor.version, minor.parent_version) == ("1.1.0", "1.0.0")
    patch = _register(registry, text_change, settings=ModelSettings(temperature=0.7), parent="1.1.0").variant
    assert (patch.version, patch.parent_version) == ("1.1.1", "1.1.0")
    major = _register(registry, [{"role": "user", "content": "{{ company }} {{ sector }}"}], parent="1.0.0")
    assert major.variant.version == "2.0.0"
    sibling = _register(
        registry, [CHAT[0], {"role": "user", "content": "About {{ company }}, {{ country }}"}], parent="1.0.0"
    ).variant
    assert sibling.version == "1.2.0", "a taken minor version moves to the next free one"


def test_explicit_version_is_validated(registry, db_snapshot):
    _register(registry)
    before = db_snapshot()
    with pytest.raises(VersionFormatError):
        _register(registry, [{"role": "user", "content": "x {{ company }}"}], version="1.2")
    with pytest.raises(DuplicateVersionError, match="p@1.0.0 already exists"):
        _register(registry, [{"role": "user", "content": "x {{ company }}"}], version="1.0.0")
    assert db_snapshot() == before
    v = _register(registry, [{"role": "user", "content": "x {{ company }}"}], version="3.1.4").variant
    assert v.version == "3.1.4"


def test_bad_template_is_refused_and_nothing_is_written(registry, db_snapshot):
    before = db_snapshot()
    with pytest.raises(TemplateError):
        _register(registry, "Hello {{ name ")
    assert db_snapshot() == before


def test_unknown_parent_and_prompt_are_clear_errors(registry):
    _register(registry)
    with pytest.raises(NotFoundError, match="has no version 7.0.0"):
        _register(registry, "new {{ x }}", parent="7.0.0")
    with pytest.raises(NotFoundError, match="unknown prompt 'nope'"):
        registry.activate("nope", "1.0.0")


def test_activation_alone_takes_the_whole_traffic(registry):
    _register(registry)
    v = registry.activate("p", "1.0.0")
    assert (v.active, v.share) == (True, 100.0)
    assert registry.get_variant("p").version == "1.0.0"


def test_shares_never_sum_past_100_percent(registry, db_snapshot):
    _register(registry)
    _register(registry, "other {{ company }} {{ country }}")
    registry.activate("p", "1.0.0", share=70)
    before = db_snapshot()
    with pytest.raises(TrafficShareError, match="over 100 %"):
        registry.activate("p", "1.1.0", share=40)
    with pytest.raises(TrafficShareError, match="give a share"):
        registry.activate("p", "1.1.0")
    with pytest.raises(TrafficShareError, match="at 0 %"):
        registry.activate("p", "1.1.0", share=0)
    with pytest.raises(TrafficShareError, match="between 0 and 100"):
        registry.activate("p", "1.1.0", share=101)
    assert db_snapshot() == before
    registry.activate("p", "1.1.0", share=30)
    assert registry.get_prompt("p").active == {"1.0.0": 70.0, "1.1.0": 30.0}


def test_set_shares_changes_several_at_once_or_nothing(registry, db_snapshot):
    _register(registry)
    _register(registry, "other {{ company }} {{ country }}")
    registry.activate("p", "1.0.0")
    before = db_snapshot()
    with pytest.raises(TrafficShareError):
        registry.set_shares("p", {"1.1.0": 50})
    assert db_snapshot() == before
    registry.set_shares("p", {"1.0.0": 50, "1.1.0": 50})
    assert registry.get_prompt("p").active == {"1.0.0": 50.0, "1.1.0": 50.0}
    registry.set_shares("p", {"1.1.0": 0})
    assert registry.get_prompt("p").active == {"1.0.0": 50.0}


def test_exclusive_activation_deactivates_the_others_in_one_change(registry):
    _register(registry)
    _register(registry, "other {{ company }} {{ country }}")
    registry.activate("p", "1.0.0")
    registry.activate("p", "1.1.0", exclusive=True, reason="switch")
    assert registry.get_prompt("p").active == {"1.1.0": 100.0}
    actions = [(h.action, h.version, h.reason) for h in registry.history("p", limit=2)]
    assert actions == [("activate", "1.1.0", "switch"), ("deactivate", "1.0.0", "switch")]


def test_deactivated_prompt_serves_its_latest_baseline(registry):
    _register(registry)
    _register(registry, "other {{ company }} {{ country }}")
    registry.activate("p", "1.1.0")
    registry.deactivate("p", "1.1.0")
    assert registry.get_prompt("p").active == {}
    assert registry.get_variant("p").version == "1.0.0"


def test_rollback_serves_the_old_version_alone_and_moves_production(registry):
    _register(registry)
    _register(registry, "other {{ company }} {{ country }}")
    registry.activate("p", "1.0.0")
    registry.set_label("p", "production", "1.0.0")
    registry.activate("p", "1.1.0", exclusive=True)
    registry.set_label("p", "production", "1.1.0")
    v = registry.rollback("p", "1.0.0", actor="oncall", reason="bad answers")
    assert (v.active, v.share, v.labels) == (True, 100.0, ["production"])
    assert registry.get_prompt("p").active == {"1.0.0": 100.0}
    last = registry.history("p", limit=3)
    assert {h.action for h in last} == {"rollback", "label"}
    assert all(h.actor == "oncall" and h.reason == "bad answers" for h in last)


def test_history_records_who_when_before_and_after(registry):
    _register(registry, author="alice")
    registry.activate("p", "1.0.0", actor="bob")
    newest, oldest = registry.history("p")
    assert (newest.action, newest.actor, newest.before, newest.after) == (
        "activate",
        "bob",
        {"active": False, "share": 0.0},
        {"active": True, "share": 100.0},
    )
    assert (oldest.action, oldest.actor) == ("register", "alice")
    assert newest.at >= oldest.at and newest.at.tzinfo is not None


def test_labels_point_at_one_version_and_can_be_removed(registry):
    _register(registry)
    _register(registry, "other {{ company }} {{ country }}")
    registry.set_label("p", "staging", "1.1.0")
    assert registry.get_variant("p", label="staging").version == "1.1.0"
    registry.set_label("p", "staging", "1.0.0")
    assert registry.get_variant("p", label="staging").version == "1.0.0"
    registry.remove_label("p", "staging")
    with pytest.raises(NotFoundError, match="no label 'staging'"):
        registry.get_variant("p", label="staging")
    with pytest.raises(ValidationError, match="invalid label"):
        registry.set_label("p", "Bad Label", "1.0.0")


def test_lineage_shows_parents_and_children(registry):
    _register(registry)
    _register(registry, "b {{ company }} {{ country }}", strategy="few_shot")
    _register(
        registry, "c {{ company }} {{ country }}", parent="1.1.0", strategy="role", meta={"test_score": 0.8}
    )
    _register(registry, "d {{ company }} {{ country }}", parent="1.0.0")
    ancestors, tree = registry.lineage("p", "1.2.0")
    assert ancestors == ["1.0.0", "1.1.0"]
    assert tree[0].strategy == "role" and tree[0].score == 0.8
    _, forest = registry.lineage("p")
    root = forest[0]
    assert root.version == "1.0.0"
    assert [c.version for c in root.children] == ["1.1.0", "1.3.0"]
    assert [c.version for c in root.children[0].children] == ["1.2.0"]


def test_diff_shows_template_variables_and_settings(registry):
    _register(registry)
    _register(
        registry,
        [CHAT[0], {"role": "user", "content": "Describe {{ company }} ({{ sector }})."}],
        settings=ModelSettings(temperature=0.5),
    )
    d = registry.diff("p", "1.0.0", "2.0.0")
    assert d.variables_added == ["sector"] and d.variables_removed == ["country"]
    assert d.settings_changed == {"temperature": (0.0, 0.5)}
    assert "-Describe {{ company }} in {{ country }}." in d.template_diff
    assert "+Describe {{ company }} ({{ sector }})." in d.template_diff


def test_registered_content_never_changes(registry):
    v1 = _register(registry).variant
    _register(registry, "other {{ company }} {{ country }}")
    registry.activate("p", "1.1.0")
    again = registry.get_variant("p", "1.0.0")
    assert (again.template, again.settings, again.variables) == (v1.template, v1.settings, v1.variables)


def test_prompt_config_merges_and_is_audited(registry):
    _register(registry)
    registry.update_config("p", {"weights": {"accuracy": 1.0}})
    after = registry.update_config("p", {"target_latency_ms": 800})
    assert after == {"weights": {"accuracy": 1.0}, "target_latency_ms": 800}
    assert registry.history("p", limit=1)[0].action == "config"


def test_an_unknown_prompt_in_an_empty_registry_points_to_init(registry):
    with pytest.raises(NotFoundError, match="registry is empty; `promptevolve init`"):
        registry.get_variant("ai_enrichment_en")
    _register(registry)
    with pytest.raises(NotFoundError, match="`promptevolve prompt list` shows the known ones"):
        registry.get_variant("ai_enrichment_en")
