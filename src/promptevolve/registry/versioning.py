"""Semantic versions of prompt variants, and the rule that bumps them from a parent.

The rule follows what a change does to the *callers* of a prompt:
- the declared variables changed → **major**: callers must pass different variables;
- the template text changed → **minor**: same contract, different behaviour;
- only the model settings changed → **patch**.
A bumped version that is already taken (a sibling got there first) moves to the next free one at the
same level, so automatic versions never collide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from promptevolve.core.errors import VersionFormatError

__all__ = ["Bump", "SemVer", "bump_kind", "next_free_version", "parse_version"]

_SEMVER = re.compile(
    r"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$"
)


@dataclass(frozen=True, slots=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: str = ""

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.prerelease}" if self.prerelease else core

    def sort_key(self) -> tuple[int, int, int, int, str]:
        """Semantic-version order: a pre-release sorts before its release (1.0.0-rc1 < 1.0.0)."""
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, self.prerelease)


class Bump(StrEnum):
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"


def parse_version(text: str) -> SemVer:
    """Parse ``MAJOR.MINOR.PATCH[-prerelease]``; build metadata (``+…``) is refused, it is not ordered."""
    match = _SEMVER.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise VersionFormatError(
            f"invalid version {text!r}: expected a semantic version MAJOR.MINOR.PATCH such as 1.2.0"
        )
    major, minor, patch, pre = match.groups()
    return SemVer(int(major), int(minor), int(patch), pre or "")


def bump_kind(*, variables_changed: bool, template_changed: bool, settings_changed: bool) -> Bump | None:
    """Which part of the version a change bumps; ``None`` when nothing changed."""
    if variables_changed:
        return Bump.MAJOR
    if template_changed:
        return Bump.MINOR
    if settings_changed:
        return Bump.PATCH
    return None


def next_free_version(parent: SemVer, bump: Bump, taken: Iterable[SemVer]) -> SemVer:
    """The parent bumped at ``bump``, moved past every version already taken in that series."""
    taken = list(taken)
    if bump is Bump.MAJOR:
        top = max([v.major for v in taken] + [parent.major])
        return SemVer(top + 1, 0, 0)
    if bump is Bump.MINOR:
        same = [v.minor for v in taken if v.major == parent.major]
        return SemVer(parent.major, max([*same, parent.minor]) + 1, 0)
    same = [v.patch for v in taken if (v.major, v.minor) == (parent.major, parent.minor)]
    return SemVer(parent.major, parent.minor, max([*same, parent.patch]) + 1)
