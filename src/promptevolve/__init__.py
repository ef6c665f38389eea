"""promptevolve: prompts that get better on their own, safely.

The objects an application needs are here at the top, as Langfuse keeps ``Langfuse`` and ``llm`` keeps
``get_model``: ``from promptevolve import PromptOptimizer``. They are imported on first use (PEP 562), so
``import promptevolve`` loads neither SQLAlchemy nor a model runtime; a CLI start or a plugin that only
needs a submodule pays for nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: name -> the module that defines it
_EXPORTS = {
    "AsyncPromptOptimizer": "promptevolve.client.aio",
    "PromptOptimizer": "promptevolve.client.optimizer",
    "RunResult": "promptevolve.client.results",
    "PromptHandle": "promptevolve.client.results",
    "OptimizerStats": "promptevolve.client.results",
    "ModelSettings": "promptevolve.core.types",
    "Settings": "promptevolve.core.settings",
    "load_settings": "promptevolve.core.settings",
    "PromptevolveError": "promptevolve.core.errors",
    "Registry": "promptevolve.registry.service",
    "VariantCreate": "promptevolve.registry.models",
    "open_store": "promptevolve.store.migrate",
}

__all__ = [
    "AsyncPromptOptimizer",
    "ModelSettings",
    "OptimizerStats",
    "PromptHandle",
    "PromptOptimizer",
    "PromptevolveError",
    "Registry",
    "RunResult",
    "Settings",
    "VariantCreate",
    "__version__",
    "load_settings",
    "open_store",
]

if TYPE_CHECKING:
    from promptevolve.client.aio import AsyncPromptOptimizer
    from promptevolve.client.optimizer import PromptOptimizer
    from promptevolve.client.results import OptimizerStats, PromptHandle, RunResult
    from promptevolve.core.errors import PromptevolveError
    from promptevolve.core.settings import Settings, load_settings
    from promptevolve.core.types import ModelSettings
    from promptevolve.registry.models import VariantCreate
    from promptevolve.registry.service import Registry
    from promptevolve.store.migrate import open_store


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'promptevolve' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
