"""Finding a strategy by name, through the entry-point group ``promptevolve.strategies``.

The same mechanism as providers and evaluators: a plugin declares::

    [project.entry-points."promptevolve.strategies"]
    mine = "my_package.strategy:MyStrategy"

and promptevolve's six strategies are declared in its ``pyproject.toml`` the same way.
``BUILTIN_STRATEGIES`` lists the same names and counts as a declaration merged with the entry points;
a name declared with two different targets is a ``ConfigurationError``, as for providers.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from promptevolve.core.errors import ConfigurationError
from promptevolve.evolution.strategies.base import Strategy

__all__ = [
    "BUILTIN_STRATEGIES",
    "DEFAULT_STRATEGIES",
    "ENTRY_POINT_GROUP",
    "available_strategies",
    "create_strategy",
]

ENTRY_POINT_GROUP = "promptevolve.strategies"

BUILTIN_STRATEGIES: Mapping[str, str] = MappingProxyType(
    {
        "context": "promptevolve.evolution.strategies.context:ContextExpansion",
        "critique": "promptevolve.evolution.strategies.critique:CritiqueOfFailures",
        "crossover": "promptevolve.evolution.strategies.crossover:Crossover",
        "few_shot": "promptevolve.evolution.strategies.few_shot:FewShot",
        "opro": "promptevolve.evolution.strategies.opro:OproRewrite",
        "role": "promptevolve.evolution.strategies.role:RoleEnhancement",
    }
)

#: The order the search tries them in by default: cheap and strong first.
DEFAULT_STRATEGIES: tuple[str, ...] = ("few_shot", "context", "role", "critique", "opro", "crossover")


def available_strategies() -> tuple[str, ...]:
    return tuple(sorted({*BUILTIN_STRATEGIES, *_entry_point_values()}))


def create_strategy(name: str, **options: Any) -> Strategy:
    """Build the strategy registered as ``name``; unknown names are a ``ConfigurationError``."""
    declared = _entry_point_values().get(name, set())
    if len(declared) > 1:
        raise ConfigurationError(
            f"strategy {name!r} is declared with several targets in group {ENTRY_POINT_GROUP!r}: "
            f"{', '.join(sorted(declared))}; uninstall all but one"
        )
    target = next(iter(declared), None)
    if target is None:
        raise ConfigurationError(
            f"unknown strategy {name!r}; known strategies: {', '.join(available_strategies())}"
        )
    factory = _load(name, target)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise ConfigurationError(f"strategy {name!r} does not accept these options: {exc}") from None
    strategy = factory(**options)
    if not isinstance(strategy, Strategy):
        raise ConfigurationError(f"strategy {name!r} built a {type(strategy).__name__}, not a Strategy")
    return strategy


def _entry_point_values() -> dict[str, set[str]]:
    """name → the targets declared for it by ``BUILTIN_STRATEGIES`` and by entry points."""
    found: dict[str, set[str]] = {name: {target} for name, target in BUILTIN_STRATEGIES.items()}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, set()).add(entry_point.value.replace(" ", ""))
    return found


def _load(name: str, target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"strategy {name!r} ({target}) cannot be loaded: {exc}") from exc
    if not callable(obj):
        raise ConfigurationError(f"strategy {name!r} ({target}) is not a class or a function")
    return obj
