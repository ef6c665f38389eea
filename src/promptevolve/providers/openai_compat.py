"""A provider for any server that speaks the OpenAI HTTP protocol, through the official ``openai`` client.

That covers OpenAI itself, vLLM, Ollama (``http://localhost:11434/v1``), llama.cpp's server and
llama-cpp-python's server, LM Studio, and the many hosted "OpenAI-compatible" APIs.

Design:

* **Clients made once.** The sync ``OpenAI`` client is built in ``__init__``; an ``AsyncOpenAI`` is built
  on first use in each event loop and reused in that loop. One async client for every loop is not
  possible: its connection pool belongs to the loop that opened it, and a second ``asyncio.run`` would
  fail with "Event loop is closed". Clients are made with ``max_retries=0``: retries are the job of
  ``promptevolve.providers.retry``, which knows our error classes and our deadlines, and retrying in two
  layers multiplies attempts. The ``openai`` package is imported in ``__init__``, not at module import,
  so ``import promptevolve.providers`` stays cheap.
* **Chat and text.** ``TemplateKind.CHAT`` goes to ``/chat/completions``. ``TemplateKind.TEXT`` goes to the
  legacy ``/completions`` endpoint by default (vLLM, llama.cpp and Ollama serve it; it is what makes
  completion-style few-shot prompts work), or, with ``text_mode="chat"``, as one user message to
  ``/chat/completions`` (OpenAI's current models only serve chat).
* **Settings.** ``model``, ``temperature``, ``max_tokens`` (always sent as ``max_tokens``: llama.cpp's
  server ignores the newer ``max_completion_tokens`` and would generate until its context is full),
  ``top_p``, ``stop``, ``seed``, ``timeout_s`` (per request, else the provider's ``timeout_s``), and
  ``response_format="json"`` (``{"type": "json_object"}`` on chat; an extra key ``json_schema`` sends
  ``{"type": "json_schema", ...}`` instead; the legacy completions endpoint has no JSON mode, so nothing
  is sent there). ``repeat_penalty`` is not part of the protocol: it is sent in the body under the name
  ``repeat_penalty_param`` (``"repeat_penalty"`` for llama.cpp, ``"repetition_penalty"`` for vLLM) when
  the settings set it, and dropped when that name is ``None``. Other extra keys of the settings go into
  the request body as they are (``top_k``, ``min_p``, ``user``, ``logit_bias``, ...), except the local
  provider's ``model_path``.
* **Errors** are translated at this boundary: ``APITimeoutError`` and HTTP 408 →
  ``ProviderTimeoutError``; connection errors, 409, 429 and 5xx → ``ProviderUnavailableError`` (both
  retryable); any other 4xx → a non-retryable ``ProviderError`` carrying the server's message; a 200
  whose body is not an OpenAI completion (HTML, a bare string, wrong shapes) → a non-retryable
  ``ProviderError`` quoting its start.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Literal

from promptevolve.core.errors import (
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt, TemplateKind
from promptevolve.providers.labels import choices_from_settings

if TYPE_CHECKING:
    import openai

__all__ = ["DEFAULT_TIMEOUT_S", "OpenAICompatProvider", "translate_openai_error"]

DEFAULT_TIMEOUT_S = 60.0
#: Placeholder key for servers that need none (vLLM, Ollama, llama.cpp); the client refuses an empty one.
_NO_KEY = "sk-no-key-required"
#: Extra settings keys that belong to other providers and must not reach the server.
_NOT_FOR_SERVER = frozenset({"model_path", "json_schema", "choices", "label_priors", "retrieval"})
_RETRYABLE_STATUS = frozenset({409, 429})

TextMode = Literal["completions", "chat"]


class OpenAICompatProvider:
    """Calls an OpenAI-compatible server. Safe to share between threads and tasks.

    ``base_url`` defaults to the ``openai`` client's (``OPENAI_BASE_URL`` or api.openai.com); ``api_key`` to
    ``OPENAI_API_KEY``, or a placeholder when ``base_url`` is given and no key is set (local servers).
    ``timeout_s`` bounds each request unless the settings give ``timeout_s``; ``connect_timeout_s`` bounds
    opening the connection.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = 5.0,
        text_mode: TextMode = "completions",
        repeat_penalty_param: str | None = "repeat_penalty",
        default_headers: dict[str, str] | None = None,
        organization: str | None = None,
    ) -> None:
        if text_mode not in ("completions", "chat"):
            raise ConfigurationError(f"text_mode must be 'completions' or 'chat', not {text_mode!r}")
        import openai

        self._base_url = base_url
        self._text_mode: TextMode = text_mode
        self._repeat_penalty_param = repeat_penalty_param
        timeout = openai.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        if api_key is None and base_url is not None and not _env_key():
            api_key = _NO_KEY
        common: dict[str, Any] = {
            "base_url": base_url,
            "api_key": api_key,
            "timeout": timeout,
            "max_retries": 0,
            "default_headers": default_headers,
            "organization": organization,
        }
        self._client_options = common
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )
        self._async_lock = threading.Lock()
        try:
            self._client = openai.OpenAI(**common)
        except openai.OpenAIError as exc:
            raise ConfigurationError(
                f"cannot configure the OpenAI-compatible provider: {exc} "
                "(pass api_key= or set OPENAI_API_KEY; for a local server pass base_url=)"
            ) from exc

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        endpoint, request = self._request(prompt, settings)
        resource = self._client.chat.completions if endpoint == "chat" else self._client.completions
        started = time.perf_counter()
        try:
            response = resource.create(**request)
        except Exception as exc:
            raise translate_openai_error(exc, self.base_url) from exc
        return self._completion(response, endpoint, settings, started)

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        endpoint, request = self._request(prompt, settings)
        client = self._async_client()
        resource = client.chat.completions if endpoint == "chat" else client.completions
        started = time.perf_counter()
        try:
            response = await resource.create(**request)
        except Exception as exc:
            raise translate_openai_error(exc, self.base_url) from exc
        return self._completion(response, endpoint, settings, started)

    def _completion(
        self, response: Any, endpoint: str, settings: ModelSettings, started: float
    ) -> Completion:
        """The answer as a ``Completion``; an answer that is not an OpenAI completion (an HTML page, a
        string, ``choices`` that is not a list of choices) is a ``ProviderError`` saying so."""
        try:
            return _to_completion(response, endpoint, settings, (time.perf_counter() - started) * 1000.0)
        except (AttributeError, TypeError, IndexError, KeyError, ValueError) as exc:
            shown = repr(response)[:200]
            raise ProviderError(
                f"{self.base_url} answered model {settings.model!r} with something that is not an OpenAI "
                f"completion ({type(exc).__name__}: {exc}): {shown}"
            ) from exc

    def close(self) -> None:
        """Close the sync client's connections (async clients close with ``aclose`` or when collected)."""
        self._client.close()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, and the sync client."""
        with self._async_lock:
            client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()
        self._client.close()

    def _async_client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        with self._async_lock:
            client = self._async_clients.get(loop)
            if client is None:
                import openai

                client = openai.AsyncOpenAI(**self._client_options)
                self._async_clients[loop] = client
            return client

    # ---------------------------------------------------------------------------------------------

    def _request(self, prompt: RenderedPrompt, settings: ModelSettings) -> tuple[str, dict[str, Any]]:
        """Which endpoint ("chat" or "text") and the keyword arguments of its ``create`` call."""
        endpoint = "chat" if prompt.kind is TemplateKind.CHAT or self._text_mode == "chat" else "text"
        request: dict[str, Any] = {
            "model": settings.model,
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
        }
        if endpoint == "chat":
            request["messages"] = prompt.as_messages()
        else:
            request["prompt"] = prompt.text or ""
        if settings.top_p is not None:
            request["top_p"] = settings.top_p
        if settings.stop:
            request["stop"] = list(settings.stop)
        if settings.seed is not None:
            request["seed"] = settings.seed
        if settings.timeout_s is not None:
            request["timeout"] = settings.timeout_s
        response_format = _response_format(settings) if endpoint == "chat" else None
        if response_format is not None:
            request["response_format"] = response_format
        extra_body = {k: v for k, v in settings.extra_params().items() if k not in _NOT_FOR_SERVER}
        if settings.repeat_penalty is not None and self._repeat_penalty_param:
            extra_body[self._repeat_penalty_param] = settings.repeat_penalty
        if extra_body:
            request["extra_body"] = extra_body
        return endpoint, request


def _env_key() -> str | None:
    import os

    return os.environ.get("OPENAI_API_KEY") or None


#: The one field of the structured output that carries a label answer (``choices``).
LABEL_FIELD = "label"


def _response_format(settings: ModelSettings) -> dict[str, Any] | None:
    choices = choices_from_settings(settings.extra_params())
    if choices is not None:
        schema = {
            "type": "object",
            "properties": {LABEL_FIELD: {"type": "string", "enum": list(choices)}},
            "required": [LABEL_FIELD],
            "additionalProperties": False,
        }
        return {"type": "json_schema", "json_schema": {"name": "label", "schema": schema, "strict": True}}
    given = settings.extra_params().get("json_schema")
    if given is not None:
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": given}}
    if settings.response_format == "json":
        return {"type": "json_object"}
    return None


def _to_completion(response: Any, endpoint: str, settings: ModelSettings, latency_ms: float) -> Completion:
    if not response.choices:
        raise ProviderError(f"the server answered model {settings.model!r} with no choices")
    choice = response.choices[0]
    text = choice.message.content if endpoint == "chat" else choice.text
    usage = response.usage
    extra: dict[str, Any] = {} if usage is not None else {"usage_missing": True}
    choices = choices_from_settings(settings.extra_params())
    if choices is not None:
        text = _label(text or "", choices)
    return Completion(
        text=text or "",
        prompt_tokens=usage.prompt_tokens if usage is not None else 0,
        completion_tokens=usage.completion_tokens if usage is not None else 0,
        latency_ms=latency_ms,
        model=response.model or settings.model,
        finish_reason=choice.finish_reason,
        extra=extra,
    )


def _label(text: str, choices: tuple[str, ...]) -> str:
    """The bare label of a structured answer (or of a plain one that starts with a label), else the text.

    A text-completion endpoint has no structured output, so there the label is read off the answer's
    start; an answer that starts no label is kept as it is and scores as wrong.
    """
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get(LABEL_FIELD) in choices:
        return str(parsed[LABEL_FIELD])
    start = text.strip().casefold()
    starting = [label for label in choices if start.startswith(label.strip().casefold())]
    return max(starting, key=len) if starting else text


def translate_openai_error(exc: Exception, base_url: str = "the server") -> ProviderError:
    """The ``ProviderError`` for an exception of the ``openai`` client (unknown ones are non-retryable)."""
    import openai

    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeoutError(f"{base_url} did not answer in time: raise timeout_s or retry")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailableError(f"cannot reach {base_url}: {exc.message} (is the server running?)")
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, base_url)
    return ProviderError(f"call to {base_url} failed: {type(exc).__name__}: {exc}")


def _status_error(exc: openai.APIStatusError, base_url: str) -> ProviderError:
    status = exc.status_code
    message = f"{base_url} answered HTTP {status}: {_server_message(exc)}"
    if status == 408:
        return ProviderTimeoutError(message)
    if status >= 500 or status in _RETRYABLE_STATUS:
        return ProviderUnavailableError(message)
    return ProviderError(message)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if body.get("detail"):
            return str(body["detail"])
    return exc.message
