"""Finding a strategy by name, through the entry-point group ``promptevolve.strategies``.

The same mechanism as providers and evaluators: a plugin declares::

    [project.entry-points."promptevolve.strategies"]
    mine = "my_package.strategy:MyStrategy"

and promptevolve's built-in strategies are declared in its ``pyproject.toml`` the same way.
``BUILTIN_STRATEGIES`` lists the same names; the merge rules are ``promptevolve.core.plugins``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast

from promptevolve.core.plugins import PluginGroup
from promptevolve.evolution.strategies.base import Strategy

__all__ = [
    "BUILTIN_STRATEGIES",
    "CLASSIFICATION_STRATEGIES",
    "DEFAULT_STRATEGIES",
    "ENTRY_POINT_GROUP",
    "available_strategies",
    "create_strategy",
    "default_strategies",
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

#: The default when the evaluator declares the label set: the strategies that need no proposer model and
#: that won the race on the public sets with the bundled 135M model (BENCHMARKS.md, "The fair race":
#: ``labels`` on tweets, +43 points over the free-text parent; ``retrieval`` on SMS spam, 0.92 on
#: validation against 0.03). The instruction-writing ones are left out: a small proposer wrote no usable
#: instruction in issue 11.
CLASSIFICATION_STRATEGIES: tuple[str, ...] = ("labels", "few_shot", "retrieval")


def default_strategies(labels: Sequence[str] | None) -> tuple[str, ...]:
    """The strategies a run uses when none are named: ``CLASSIFICATION_STRATEGIES`` when the evaluator
    declares a label set (``labels`` may then set ``choices``), else ``DEFAULT_STRATEGIES``."""
    return CLASSIFICATION_STRATEGIES if labels else DEFAULT_STRATEGIES


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
