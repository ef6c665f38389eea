"""Finding a strategy by name, through the entry-point group ``promptevolve.strategies``.

The same mechanism as providers and evaluators: a plugin declares::

    [project.entry-points."promptevolve.strategies"]
    mine = "my_package.strategy:MyStrategy"

and promptevolve's built-in strategies are declared in its ``pyproject.toml`` the same way.
``BUILTIN_STRATEGIES`` lists the same names; the merge rules are ``promptevolve.core.plugins``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, cast

from promptevolve.core.plugins import PluginGroup
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
        "labels": "promptevolve.evolution.strategies.labels:LabelSpace",
        "opro": "promptevolve.evolution.strategies.opro:OproRewrite",
        "retrieval": "promptevolve.evolution.strategies.retrieval:RetrievalDemos",
        "role": "promptevolve.evolution.strategies.role:RoleEnhancement",
    }
)

#: The order the search tries them in by default: cheap and strong first.
DEFAULT_STRATEGIES: tuple[str, ...] = ("few_shot", "context", "role", "critique", "opro", "crossover")


_GROUP = PluginGroup(
    group=ENTRY_POINT_GROUP,
    kind="strategy",
    builtins=BUILTIN_STRATEGIES,
    is_valid=lambda built: isinstance(built, Strategy),
    expected="not a Strategy",
    plural="strategies",
)


def available_strategies() -> tuple[str, ...]:
    return _GROUP.names()


def create_strategy(name: str, **options: Any) -> Strategy:
    """Build the strategy registered as ``name``; unknown names are a ``ConfigurationError``."""
    return cast(Strategy, _GROUP.create(name, **options))
