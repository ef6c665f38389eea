"""An optional provider through LiteLLM, which speaks to a hundred vendors' APIs with one call shape.

LiteLLM is a heavy, fast-moving dependency, so it is an extra (``pip install promptevolve[litellm]``) and
imported only when a ``LiteLLMProvider`` is created; without it the constructor raises
``ConfigurationError`` saying what to install. Anything OpenAI-compatible is better served by
``OpenAICompatProvider``; this one is for vendors that are not (Anthropic, Bedrock, Vertex, ...), with
model names in LiteLLM's ``vendor/model`` form (``anthropic/claude-3-5-haiku-20241022``).

Every prompt goes to ``litellm.completion`` / ``acompletion`` as chat messages (a text prompt as one user
message). Settings map as in the OpenAI-compatible provider: ``temperature``, ``max_tokens``, ``top_p``,
``stop``, ``seed``, ``response_format="json"`` → ``{"type": "json_object"}``, ``timeout_s`` → ``timeout``;
``repeat_penalty`` is sent as ``repetition_penalty`` only when set; other extra keys pass through.
LiteLLM's own retries are off (``num_retries=0``, ``max_retries=0``): ``promptevolve.providers.retry``
does them. Its exceptions subclass the ``openai`` client's, so they are translated by the same function
(timeouts → ``ProviderTimeoutError``; connection errors, 429 and 5xx → ``ProviderUnavailableError``;
other 4xx → a non-retryable ``ProviderError``); anything else becomes a non-retryable ``ProviderError``.

On import LiteLLM downloads its model price map from GitHub, which blocks for seconds and logs warnings
when offline. Costs come from ``promptevolve.providers.pricing``, so before importing LiteLLM this
module sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` unless the environment already sets it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from promptevolve.core.errors import ConfigurationError, ProviderError
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt
from promptevolve.providers.openai_compat import translate_openai_error

__all__ = ["LiteLLMProvider"]

_NOT_FOR_VENDOR = frozenset({"model_path", "json_schema", "retrieval"})


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:
        raise ConfigurationError(
            "the 'litellm' provider needs LiteLLM: install promptevolve[litellm] (pip install litellm)"
        ) from exc
    return litellm


class LiteLLMProvider:
    """Calls a model through LiteLLM; ``api_base`` and ``api_key`` override LiteLLM's own configuration."""

    name = "litellm"

    def __init__(
        self, *, api_base: str | None = None, api_key: str | None = None, timeout_s: float = 60.0
    ) -> None:
        self._litellm = _import_litellm()
        self._api_base = api_base
        self._api_key = api_key
        self._timeout_s = timeout_s

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        started = time.perf_counter()
        try:
            response = self._litellm.completion(**self._request(prompt, settings))
        except Exception as exc:
            raise _translate(exc, settings.model) from exc
        return _to_completion(response, settings, (time.perf_counter() - started) * 1000.0)

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        started = time.perf_counter()
        try:
            response = await self._litellm.acompletion(**self._request(prompt, settings))
        except Exception as exc:
            raise _translate(exc, settings.model) from exc
        return _to_completion(response, settings, (time.perf_counter() - started) * 1000.0)

    def _request(self, prompt: RenderedPrompt, settings: ModelSettings) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": settings.model,
            "messages": prompt.as_messages(),
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "timeout": settings.timeout_s or self._timeout_s,
            "num_retries": 0,
            "max_retries": 0,
        }
        optional = {
            "top_p": settings.top_p,
            "stop": list(settings.stop) or None,
            "seed": settings.seed,
            "api_base": self._api_base,
            "api_key": self._api_key,
            "repetition_penalty": settings.repeat_penalty,
            "response_format": {"type": "json_object"} if settings.response_format == "json" else None,
        }
        request.update({key: value for key, value in optional.items() if value is not None})
        request.update({k: v for k, v in settings.extra_params().items() if k not in _NOT_FOR_VENDOR})
        return request


def _to_completion(response: Any, settings: ModelSettings, latency_ms: float) -> Completion:
    choice = response.choices[0]
    usage = getattr(response, "usage", None)
    return Completion(
        text=choice.message.content or "",
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        latency_ms=latency_ms,
        model=getattr(response, "model", None) or settings.model,
        finish_reason=choice.finish_reason,
        extra={} if usage is not None else {"usage_missing": True},
    )


def _translate(exc: Exception, model: str) -> ProviderError:
    """The ``ProviderError`` for a LiteLLM exception (they subclass the ``openai`` client's)."""
    import openai

    if isinstance(exc, openai.OpenAIError):
        return translate_openai_error(exc, f"LiteLLM ({model})")
    return ProviderError(f"LiteLLM call to {model!r} failed: {type(exc).__name__}: {exc}")
