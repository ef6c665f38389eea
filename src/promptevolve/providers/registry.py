"""Finding a provider by name: built-ins and plugins register the same way, through entry points.

A provider plugin is a distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."promptevolve.providers"]
    mymodel = "my_package.provider:MyProvider"

where ``MyProvider(**options)`` builds an object satisfying ``promptevolve.core.protocols.Provider``.
promptevolve's own providers (``local``, ``openai``, ``litellm``, ``scripted``) are declared in
promptevolve's ``pyproject.toml`` in exactly that form.

The same four are also listed in ``BUILTIN_PROVIDERS``; how built-ins and plugins merge, and why, is
``promptevolve.core.plugins``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from promptevolve.core.plugins import PluginGroup
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

_GROUP = PluginGroup(
    group=ENTRY_POINT_GROUP,
    kind="provider",
    builtins=BUILTIN_PROVIDERS,
    is_valid=lambda built: isinstance(built, Provider),
    expected="which lacks the Provider protocol (name, complete, acomplete)",
)


def available_providers() -> tuple[str, ...]:
    """Every provider name that can be looked up, sorted."""
    return _GROUP.names()


def provider_factory(name: str) -> ProviderFactory:
    """The class or callable registered as ``name``; ``ConfigurationError`` if there is none."""
    return cast(ProviderFactory, _GROUP.factory(name))


def create_provider(name: str, **options: Any) -> Provider:
    """Build the provider registered as ``name`` with ``options`` as its keyword arguments."""
    return cast(Provider, _GROUP.create(name, **options))
