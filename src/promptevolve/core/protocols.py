"""The small protocols that let parts be swapped: model providers and clocks.

Built-in implementations register through the same entry points a plugin would use.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt

__all__ = ["Clock", "ManualClock", "Provider", "SystemClock"]


@runtime_checkable
class Provider(Protocol):
    """Calls a model: a rendered prompt and settings in, text with token counts and latency out.

    Implementations translate their library's errors into ``ProviderError`` subclasses (with
    ``retryable`` set) and must be safe to call from several threads.
    """

    name: str

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion: ...

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion: ...


class Clock(Protocol):
    """Wall time in seconds since the epoch; pure code takes one instead of calling ``time``."""

    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told: for tests and simulations."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds
