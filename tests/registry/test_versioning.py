from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptevolve.core.errors import VersionFormatError
from promptevolve.registry.versioning import Bump, SemVer, bump_kind, next_free_version, parse_version


@pytest.mark.parametrize("text", ["1.0", "01.0.0", "1.0.0.0", "v1.0.0", "1.0.0+build", "", "a.b.c", "1.-1.0"])
def test_invalid_versions_are_refused(text):
    with pytest.raises(VersionFormatError, match="invalid version"):
        parse_version(text)


def test_prerelease_sorts_before_its_release():
    assert parse_version("1.0.0-rc.1").sort_key() < parse_version("1.0.0").sort_key()
    assert str(parse_version("2.3.4-beta")) == "2.3.4-beta"


@pytest.mark.parametrize(
    ("variables", "template", "settings", "expected"),
    [
        (True, True, True, Bump.MAJOR),
        (False, True, True, Bump.MINOR),
        (False, False, True, Bump.PATCH),
        (False, False, False, None),
    ],
)
def test_bump_rule_follows_the_contract_change(variables, template, settings, expected):
    assert (
        bump_kind(variables_changed=variables, template_changed=template, settings_changed=settings)
        is expected
    )


def test_taken_versions_are_skipped():
    parent = SemVer(1, 0, 0)
    taken = [SemVer(1, 0, 0), SemVer(1, 1, 0), SemVer(1, 2, 0), SemVer(2, 0, 0), SemVer(1, 0, 1)]
    assert next_free_version(parent, Bump.MINOR, taken) == SemVer(1, 3, 0)
    assert next_free_version(parent, Bump.MAJOR, taken) == SemVer(3, 0, 0)
    assert next_free_version(parent, Bump.PATCH, taken) == SemVer(1, 0, 2)


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)), max_size=30),
    st.sampled_from(list(Bump)),
)
def test_next_free_version_is_never_taken_and_above_parent(triples, bump):
    taken = [SemVer(*t) for t in triples]
    parent = taken[0] if taken else SemVer(1, 0, 0)
    new = next_free_version(parent, bump, taken)
    assert new not in taken
    assert new.sort_key() > parent.sort_key()
