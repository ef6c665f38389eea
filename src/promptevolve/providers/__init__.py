"""Calling models: one small protocol (``promptevolve.core.protocols.Provider``), several implementations.

* ``LocalProvider`` (``local``) — the embedded default, SmolLM2-135M-Instruct run in process by llama.cpp;
* ``OpenAICompatProvider`` (``openai``) — anything speaking the OpenAI protocol (OpenAI, vLLM, Ollama,
  llama.cpp's server);
* ``LiteLLMProvider`` (``litellm``) — optional, for other vendors;
* ``ScriptedProvider`` (``scripted``) — a deterministic test double.

``create_provider(name, **options)`` builds one by name through the entry-point group
``promptevolve.providers``; ``with_retries`` adds retries with backoff; ``cost_usd`` prices a call.
Importing this package loads neither llama.cpp nor the ``openai`` client: each is imported when its
provider is first built or called.
"""

from promptevolve.providers.litellm_provider import LiteLLMProvider
from promptevolve.providers.local import (
    DEFAULT_MODEL_NAME,
    LoadedModel,
    LocalProvider,
    default_model_path,
    load_count,
    loaded_models,
    unload_models,
)
from promptevolve.providers.openai_compat import OpenAICompatProvider, translate_openai_error
from promptevolve.providers.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, cost_usd
from promptevolve.providers.registry import (
    ENTRY_POINT_GROUP,
    available_providers,
    create_provider,
    provider_factory,
)
from promptevolve.providers.retry import RetryingProvider, RetryPolicy, with_retries
from promptevolve.providers.scripted import ScriptedProvider

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_PRICES",
    "ENTRY_POINT_GROUP",
    "LiteLLMProvider",
    "LoadedModel",
    "LocalProvider",
    "ModelPrice",
    "OpenAICompatProvider",
    "PriceTable",
    "RetryPolicy",
    "RetryingProvider",
    "ScriptedProvider",
    "available_providers",
    "cost_usd",
    "create_provider",
    "default_model_path",
    "load_count",
    "loaded_models",
    "provider_factory",
    "translate_openai_error",
    "unload_models",
    "with_retries",
]
