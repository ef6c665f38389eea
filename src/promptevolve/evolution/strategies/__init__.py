"""Strategies: one module each, one base class, one keyword-only ``propose`` (see ``base``).

``few_shot``, ``labels``, ``retrieval``, ``role``, ``context``, ``opro``, ``critique``, ``crossover``;
found by name through the entry-point group ``promptevolve.strategies`` (``create_strategy``).
"""

from promptevolve.evolution.strategies.base import Evidence, Proposals, ScoredExample, Strategy
from promptevolve.evolution.strategies.registry import (
    BUILTIN_STRATEGIES,
    CLASSIFICATION_STRATEGIES,
    DEFAULT_STRATEGIES,
    ENTRY_POINT_GROUP,
    available_strategies,
    create_strategy,
    default_strategies,
)

__all__ = [
    "BUILTIN_STRATEGIES",
    "CLASSIFICATION_STRATEGIES",
    "DEFAULT_STRATEGIES",
    "ENTRY_POINT_GROUP",
    "Evidence",
    "Proposals",
    "ScoredExample",
    "Strategy",
    "available_strategies",
    "create_strategy",
    "default_strategies",
]
