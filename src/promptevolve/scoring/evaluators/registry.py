"""Finding an evaluator by name: built-ins and plugins register the same way, through entry points.

An evaluator plugin is a distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."promptevolve.evaluators"]
    bleu = "my_package.bleu:Bleu"

where ``Bleu(**options)`` builds a ``promptevolve.scoring.evaluators.Evaluator``. promptevolve's own
evaluators are declared in promptevolve's ``pyproject.toml`` in exactly that form. ``BUILTIN_EVALUATORS``
lists the same names and counts as a declaration merged with the entry points (lookup works from an
install whose metadata predates them; the metadata repeating it changes nothing). A name declared with
two different targets (a plugin claiming ``exact``, or two plugins one name) is a ``ConfigurationError``,
as for providers. Entry points are read on each lookup,
so nothing is cached at import time and a plugin installed later is found.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from promptevolve.core.errors import ConfigurationError
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
        "lead_enrichment": "promptevolve.scoring.evaluators.lead_enrichment:LeadEnrichment",
        "normalized": "promptevolve.scoring.evaluators.normalized:NormalizedMatch",
        "numeric": "promptevolve.scoring.evaluators.numeric:NumericTolerance",
        "regex": "promptevolve.scoring.evaluators.regex:RegexMatch",
    }
)

EvaluatorFactory = Callable[..., Evaluator]


def available_evaluators() -> tuple[str, ...]:
    """Every evaluator name that can be looked up, sorted."""
    return tuple(sorted({*BUILTIN_EVALUATORS, *_entry_point_values()}))


def evaluator_factory(name: str) -> EvaluatorFactory:
    """The class or callable registered as ``name``; ``ConfigurationError`` if there is none."""
    declared = _entry_point_values().get(name, set())
    if len(declared) > 1:
        raise ConfigurationError(
            f"evaluator {name!r} is declared with several targets in group {ENTRY_POINT_GROUP!r}: "
            f"{', '.join(sorted(declared))}; uninstall all but one"
        )
    target = next(iter(declared), None)
    if target is None:
        raise ConfigurationError(
            f"unknown evaluator {name!r}; known evaluators: {', '.join(available_evaluators())}. "
            f"A plugin adds one through the entry-point group {ENTRY_POINT_GROUP!r}"
        )
    return _load(name, target)


def create_evaluator(name: str, **options: Any) -> Evaluator:
    """Build the evaluator registered as ``name`` with ``options`` as its keyword arguments."""
    factory = evaluator_factory(name)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise ConfigurationError(f"evaluator {name!r} does not accept these options: {exc}") from None
    except ValueError:  # no signature to check: let the call decide
        pass
    evaluator = factory(**options)
    if not isinstance(evaluator, Evaluator):
        raise ConfigurationError(
            f"evaluator {name!r} built a {type(evaluator).__name__}, not a "
            "promptevolve.scoring.evaluators.Evaluator"
        )
    return evaluator


def _entry_point_values() -> dict[str, set[str]]:
    """name → the targets declared for it by ``BUILTIN_EVALUATORS`` and by entry points."""
    found: dict[str, set[str]] = {name: {target} for name, target in BUILTIN_EVALUATORS.items()}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, set()).add(entry_point.value.replace(" ", ""))
    return found


def _load(name: str, target: str) -> EvaluatorFactory:
    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"evaluator {name!r} ({target}) cannot be loaded: {exc}") from exc
    if not callable(obj):
        raise ConfigurationError(f"evaluator {name!r} ({target}) is not a class or a function")
    return obj
