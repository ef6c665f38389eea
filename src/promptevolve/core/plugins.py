"""Named plugins found through entry points: the one mechanism behind providers, evaluators, strategies.

A plugin group is an entry-point group (``promptevolve.providers``, …) plus a table of promptevolve's own
built-ins, which counts as a declaration merged with the entry points: lookup works from an install whose
metadata predates the entry points, and the metadata repeating a built-in changes nothing. A name
declared with two different targets (a plugin claiming a built-in name, or two plugins one name) is a
``ConfigurationError`` rather than a silent choice. Entry points are read on every lookup (a few
milliseconds, at configuration time, never per call), so nothing is cached at import and a plugin
installed later is found.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from promptevolve.core.errors import ConfigurationError

__all__ = ["PluginGroup"]


@dataclass(frozen=True)
class PluginGroup:
    """``kind`` names one plugin in messages ("provider"); ``is_valid`` checks what a factory built,
    and ``expected`` says what it should have been ("which lacks the Provider protocol …")."""

    group: str
    kind: str
    builtins: Mapping[str, str]
    is_valid: Callable[[Any], bool]
    expected: str
    plural: str = ""

    def names(self) -> tuple[str, ...]:
        """Every name that can be looked up, sorted."""
        return tuple(sorted(self._declarations()))

    def factory(self, name: str) -> Callable[..., Any]:
        """The class or callable registered as ``name``; ``ConfigurationError`` if there is none."""
        declared = self._declarations().get(name, set())
        if len(declared) > 1:
            raise ConfigurationError(
                f"{self.kind} {name!r} is declared with several targets in group {self.group!r}: "
                f"{', '.join(sorted(declared))}; uninstall all but one"
            )
        target = next(iter(declared), None)
        if target is None:
            raise ConfigurationError(
                f"unknown {self.kind} {name!r}; known {self.plural or self.kind + 's'}: "
                f"{', '.join(self.names())}. "
                f"A plugin adds one through the entry-point group {self.group!r}"
            )
        return self._load(name, target)

    def create(self, name: str, **options: Any) -> Any:
        """Build the plugin registered as ``name`` with ``options`` as its keyword arguments."""
        factory = self.factory(name)
        try:
            inspect.signature(factory).bind(**options)
        except TypeError as exc:
            raise ConfigurationError(f"{self.kind} {name!r} does not accept these options: {exc}") from None
        except ValueError:  # no signature to check (a builtin callable): let the call decide
            pass
        built = factory(**options)
        if not self.is_valid(built):
            raise ConfigurationError(f"{self.kind} {name!r} built a {type(built).__name__}, {self.expected}")
        return built

    def _declarations(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {name: {target} for name, target in self.builtins.items()}
        for entry_point in importlib.metadata.entry_points(group=self.group):
            found.setdefault(entry_point.name, set()).add(entry_point.value.replace(" ", ""))
        return found

    def _load(self, name: str, target: str) -> Callable[..., Any]:
        module_name, _, attribute = target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in filter(None, attribute.split(".")):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"{self.kind} {name!r} ({target}) cannot be loaded: {exc}") from exc
        if not callable(obj):
            raise ConfigurationError(f"{self.kind} {name!r} ({target}) is not a class or a function")
        return obj
