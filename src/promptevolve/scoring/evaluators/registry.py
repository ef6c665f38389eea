"""Finding an evaluator by name: built-ins and plugins register the same way, through entry points.

An evaluator plugin is a distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."promptevolve.evaluators"]
    bleu = "my_package.bleu:Bleu"

where ``Bleu(**options)`` builds a ``promptevolve.scoring.evaluators.Evaluator``. promptevolve's own
evaluators are declared in promptevolve's ``pyproject.toml`` in exactly that form and listed again in
``BUILTIN_EVALUATORS``; the merge rules are ``promptevolve.core.plugins``'s, as for providers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from promptevolve.core.plugins import PluginGroup
from promptevolve.scoring.evaluators.base import Evaluator

__all__ = [
    "BUILTIN_EVALUATORS",
    "ENTRY_POINT_GROUP",
    "available_evaluators",
    "create_evaluator",
    "evaluator_factory",
]

ENTRY_POINT_GROUP = "promptevolve.evaluators"

#: name → "module:attribute", the same values as promptevolve's own entry points.
BUILTIN_EVALUATORS: Mapping[str, str] = MappingProxyType(
    {
        "embedding": "promptevolve.scoring.evaluators.embedding:EmbeddingSimilarity",
        "exact": "promptevolve.scoring.evaluators.exact:ExactMatch",
        "json": "promptevolve.scoring.evaluators.json_fields:JsonFields",
        "judge": "promptevolve.scoring.evaluators.judge:LLMJudge",
        "normalized": "promptevolve.scoring.evaluators.normalized:NormalizedMatch",
        "numeric": "promptevolve.scoring.evaluators.numeric:NumericTolerance",
        "regex": "promptevolve.scoring.evaluators.regex:RegexMatch",
    }
)

EvaluatorFactory = Callable[..., Evaluator]

_GROUP = PluginGroup(
    group=ENTRY_POINT_GROUP,
    kind="evaluator",
    builtins=BUILTIN_EVALUATORS,
    is_valid=lambda built: isinstance(built, Evaluator),
    expected="not a promptevolve.scoring.evaluators.Evaluator",
)


def available_evaluators() -> tuple[str, ...]:
    """Every evaluator name that can be looked up, sorted."""
    return _GROUP.names()


def evaluator_factory(name: str) -> EvaluatorFactory:
    """The class or callable registered as ``name``; ``ConfigurationError`` if there is none."""
    return cast(EvaluatorFactory, _GROUP.factory(name))


def create_evaluator(name: str, **options: Any) -> Evaluator:
    """Build the evaluator registered as ``name`` with ``options`` as its keyword arguments."""
    return cast(Evaluator, _GROUP.create(name, **options))
