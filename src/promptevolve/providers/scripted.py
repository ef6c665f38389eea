"""``ScriptedProvider``: a provider that answers from a script, shipped with the library for tests.

Code that only passes text around (routing, tracking, the client's fallbacks, retries, evolution loops)
is tested against this provider instead of a mock; behaviour that depends on a real model is tested
against ``LocalProvider``.

What it can do:

* **Reply** "ok" to everything by default; or from a list, in order (an item may be a
  ``ProviderError`` instance, raised at that call; when the list runs out it starts again if
  ``cycle=True``, else raises ``ConfigurationError``); or from a callable ``(prompt, settings) -> str``;
  or from a mapping (the key equal to the prompt's text, else the first key contained in it, else
  ``default``).
* **Fail**: ``fail_with`` (or ``set_failure`` later) makes every call raise a copy of that error until
  cleared.
* **Take time**: ``latency_s`` is reported as the completion's latency; with ``sleep=True`` the call
  really waits that long (``time.sleep`` or ``asyncio.sleep``). When ``latency_s`` exceeds the settings'
  ``timeout_s`` the call raises ``ProviderTimeoutError`` (after waiting ``timeout_s`` if sleeping), so
  timeout handling can be tested without a slow model.
* **Count**: ``call_count`` and ``calls`` (every prompt and settings received, in order).

Token counts are deterministic: the number of whitespace-separated words of the prompt's text and of the
reply. ``max_tokens`` cuts the reply to that many words (``finish_reason="length"``) and the first
``stop`` string found cuts it there (``finish_reason="stop"``). All state is behind one lock, so a
provider can be shared by threads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

from promptevolve.core.errors import ConfigurationError, ProviderError, ProviderTimeoutError
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt

__all__ = ["Reply", "Script", "ScriptedCall", "ScriptedProvider"]

Reply: TypeAlias = str | ProviderError
Script: TypeAlias = Sequence[Reply] | Callable[[RenderedPrompt, ModelSettings], str] | Mapping[str, str]
ScriptedCall: TypeAlias = tuple[RenderedPrompt, ModelSettings]
_ReplyFunction: TypeAlias = Callable[[RenderedPrompt, ModelSettings], str]


class ScriptedProvider:
    """A deterministic provider for tests; see the module docstring for what it can do."""

    def __init__(
        self,
        replies: Script | None = None,
        *,
        cycle: bool = False,
        default: str | None = None,
        fail_with: ProviderError | None = None,
        latency_s: float = 0.0,
        sleep: bool = False,
        name: str = "scripted",
    ) -> None:
        if isinstance(replies, str):
            raise ConfigurationError("ScriptedProvider replies must be a list of strings, not one string")
        if latency_s < 0:
            raise ConfigurationError(f"ScriptedProvider latency_s cannot be negative ({latency_s})")
        if replies is None:
            replies, cycle = ("ok",), True
        self.name = name
        self._replies = replies if callable(replies) or isinstance(replies, Mapping) else tuple(replies)
        self._cycle = cycle
        self._default = default
        self._failure = fail_with
        self._latency_s = latency_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._calls: list[ScriptedCall] = []

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self._calls)

    @property
    def calls(self) -> tuple[ScriptedCall, ...]:
        with self._lock:
            return tuple(self._calls)

    def set_failure(self, error: ProviderError | None) -> None:
        """Make every later call raise ``error`` (``None``: answer normally again)."""
        with self._lock:
            self._failure = error

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        reply = self._next(prompt, settings)
        timed_out = self._times_out(settings)
        if self._sleep:
            time.sleep(settings.timeout_s if timed_out and settings.timeout_s else self._latency_s)
        return self._finish(reply, prompt, settings, timed_out)

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        reply = self._next(prompt, settings)
        timed_out = self._times_out(settings)
        if self._sleep:
            await asyncio.sleep(settings.timeout_s if timed_out and settings.timeout_s else self._latency_s)
        return self._finish(reply, prompt, settings, timed_out)

    # ---------------------------------------------------------------------------------------------

    def _next(self, prompt: RenderedPrompt, settings: ModelSettings) -> Reply | _ReplyFunction:
        """Record the call and pick its reply (under the lock, so list replies go out in order)."""
        with self._lock:
            index = len(self._calls)
            self._calls.append((prompt, settings))
            if self._failure is not None:
                return self._failure
            replies = self._replies
            if isinstance(replies, Mapping):
                return self._from_mapping(replies, prompt)
            if callable(replies):
                return replies
            return self._from_list(replies, index)

    def _from_list(self, replies: tuple[Reply, ...], index: int) -> Reply:
        if index < len(replies):
            return replies[index]
        if self._cycle and replies:
            return replies[index % len(replies)]
        raise ConfigurationError(
            f"ScriptedProvider {self.name!r} ran out of replies at call {index + 1} "
            f"(it has {len(replies)}): add replies or pass cycle=True"
        )

    def _from_mapping(self, replies: Mapping[str, str], prompt: RenderedPrompt) -> str:
        text = prompt.as_text()
        if text in replies:
            return replies[text]
        for key, reply in replies.items():
            if key in text:
                return reply
        if self._default is not None:
            return self._default
        raise ConfigurationError(
            f"ScriptedProvider {self.name!r} has no reply for a prompt starting {text[:60]!r}: "
            "add a key contained in it or pass default="
        )

    def _times_out(self, settings: ModelSettings) -> bool:
        return settings.timeout_s is not None and self._latency_s > settings.timeout_s

    def _finish(
        self,
        reply: Reply | _ReplyFunction,
        prompt: RenderedPrompt,
        settings: ModelSettings,
        timed_out: bool,
    ) -> Completion:
        if isinstance(reply, ProviderError):
            raise _fresh(reply)
        if timed_out:
            raise ProviderTimeoutError(
                f"ScriptedProvider {self.name!r} takes {self._latency_s} s, "
                f"more than timeout_s={settings.timeout_s}"
            )
        text = reply(prompt, settings) if callable(reply) else reply
        text, finish_reason = _truncate(text, settings)
        return Completion(
            text=text,
            prompt_tokens=len(prompt.as_text().split()),
            completion_tokens=len(text.split()),
            latency_ms=self._latency_s * 1000.0,
            model=settings.model,
            finish_reason=finish_reason,
        )


def _truncate(text: str, settings: ModelSettings) -> tuple[str, str]:
    """The reply cut at the first stop string and at ``max_tokens`` words, and why it ended."""
    finish_reason = "stop"
    cuts = [text.index(stop) for stop in settings.stop if stop and stop in text]
    if cuts:
        text = text[: min(cuts)]
    words = text.split()
    if len(words) > settings.max_tokens:
        text = " ".join(words[: settings.max_tokens])
        finish_reason = "length"
    return text, finish_reason


def _fresh(error: ProviderError) -> ProviderError:
    """A new ``error`` of the same class, message and ``retryable``: each raise gets its own traceback."""
    try:
        copy = type(error)(*error.args)
    except TypeError:  # a subclass with a constructor we cannot call again
        return error
    if "retryable" in vars(error):
        copy.retryable = error.retryable
    return copy
