"""Finding a provider by name: built-ins and plugins register the same way, through entry points.

A provider plugin is a distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."promptevolve.providers"]
    mymodel = "my_package.provider:MyProvider"

where ``MyProvider(**options)`` builds an object satisfying ``promptevolve.core.protocols.Provider``.
promptevolve's own providers (``local``, ``openai``, ``litellm``, ``scripted``) are declared in
promptevolve's ``pyproject.toml`` in exactly that form.

The same four are also listed in ``BUILTIN_PROVIDERS``, which counts as a declaration merged with the entry
points: it keeps lookup working from an install whose metadata predates the entry points (an editable
install made before they were added), and the metadata repeating it changes nothing. A name declared
with two different targets (a plugin claiming ``local``, or two plugins one name) is a
``ConfigurationError`` rather than a silent choice, whether or not the metadata lists the built-ins.

Entry points are read on every lookup (a few milliseconds; lookups happen when configuring, not per call),
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
from promptevolve.core.protocols import Provider

__all__ = [
    "BUILTIN_PROVIDERS",
    "ENTRY_POINT_GROUP",
    "available_providers",
    "create_provider",
    "provider_factory",
]

ENTRY_POINT_GROUP = "promptevolve.providers"

#: name → "module:attribute", the same values as promptevolve's own entry points.
BUILTIN_PROVIDERS: Mapping[str, str] = MappingProxyType(
    {
        "litellm": "promptevolve.providers.litellm_provider:LiteLLMProvider",
        "local": "promptevolve.providers.local:LocalProvider",
        "openai": "promptevolve.providers.openai_compat:OpenAICompatProvider",
        "scripted": "promptevolve.providers.scripted:ScriptedProvider",
    }
)

ProviderFactory = Callable[..., Provider]


def available_providers() -> tuple[str, ...]:
    """Every provider name that can be looked up, sorted."""
    return tuple(sorted(_declarations()))


def provider_factory(name: str) -> ProviderFactory:
    """The class or callable registered as ``name``; ``ConfigurationError`` if there is none."""
    declared = _declarations().get(name, set())
    if len(declared) > 1:
        raise ConfigurationError(
            f"provider {name!r} is declared with several targets in group {ENTRY_POINT_GROUP!r}: "
            f"{', '.join(sorted(declared))}; uninstall all but one"
        )
    target = next(iter(declared), None)
    if target is None:
        raise ConfigurationError(
            f"unknown provider {name!r}; known providers: {', '.join(available_providers())}. "
            f"A plugin adds one through the entry-point group {ENTRY_POINT_GROUP!r}"
        )
    return _load(name, target)


def create_provider(name: str, **options: Any) -> Provider:
    """Build the provider registered as ``name`` with ``options`` as its keyword arguments."""
    factory = provider_factory(name)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise ConfigurationError(f"provider {name!r} does not accept these options: {exc}") from None
    except ValueError:  # no signature to check (a builtin callable): let the call decide
        pass
    provider = factory(**options)
    if not isinstance(provider, Provider):
        raise ConfigurationError(
            f"provider {name!r} built a {type(provider).__name__}, which lacks the Provider protocol "
            "(name, complete, acomplete)"
        )
    return provider


def _declarations() -> dict[str, set[str]]:
    """name → the targets declared for it by entry points and by ``BUILTIN_PROVIDERS``."""
    found: dict[str, set[str]] = {name: {target} for name, target in BUILTIN_PROVIDERS.items()}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, set()).add(entry_point.value.replace(" ", ""))
    return found


def _load(name: str, target: str) -> ProviderFactory:
    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"provider {name!r} ({target}) cannot be loaded: {exc}") from exc
    if not callable(obj):
        raise ConfigurationError(f"provider {name!r} ({target}) is not a class or a function")
    return obj
