"""Retries of provider calls: exponential backoff with full jitter, a maximum of attempts, a total deadline.

Two halves:

* ``RetryPolicy`` is pure policy, a frozen dataclass: given the attempt just failed, the error, the time
  spent and a random generator, ``next_delay`` says how long to wait before the next attempt, or ``None``
  to give up. Only ``ProviderError`` with ``retryable`` set is retried (timeouts, rate limits, 5xx,
  connection errors); everything else is raised at once.
* ``RetryingProvider`` (built by ``with_retries``) wraps any provider and is a provider itself, sync and
  async. Sleep functions, the clock and the random generator are injected, so tests run the whole
  schedule without sleeping.

The backoff before retry *n* (1-based) is drawn uniformly from ``[0, min(max_delay_s, base_delay_s *
multiplier ** (n - 1))]`` ("full jitter", which spreads clients that failed together). The deadline
counts from the first attempt: no sleep may end past it, and each attempt's ``timeout_s`` is lowered to
the time left so that a slow attempt cannot overrun it either. When the wrapper gives up it raises the
last error, with a note saying how many attempts were made; a successful completion carries
``extra["attempts"]``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from promptevolve.core.errors import ConfigurationError, ProviderError, ProviderTimeoutError
from promptevolve.core.protocols import Provider
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt

__all__ = ["RetryPolicy", "RetryingProvider", "with_retries"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying a failed call again.

    ``max_attempts`` counts the first call (1 means never retry); ``deadline_s`` bounds the whole
    sequence of attempts and waits (``None``: no bound).
    """

    max_attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    multiplier: float = 2.0
    deadline_s: float | None = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError(f"RetryPolicy.max_attempts must be at least 1, not {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise ConfigurationError("RetryPolicy needs 0 <= base_delay_s <= max_delay_s")
        if self.multiplier < 1:
            raise ConfigurationError(f"RetryPolicy.multiplier must be at least 1, not {self.multiplier}")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ConfigurationError(f"RetryPolicy.deadline_s must be positive, not {self.deadline_s}")

    def backoff_cap(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (1 for the first retry)."""
        return min(self.max_delay_s, self.base_delay_s * self.multiplier ** (retry - 1))

    def next_delay(
        self, attempt: int, error: BaseException, elapsed_s: float, rng: random.Random
    ) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), or ``None`` to give up."""
        if not (isinstance(error, ProviderError) and error.retryable) or attempt >= self.max_attempts:
            return None
        delay = rng.uniform(0.0, self.backoff_cap(attempt))
        if self.deadline_s is not None and elapsed_s + delay >= self.deadline_s:
            return None
        return delay

    def remaining_s(self, elapsed_s: float) -> float | None:
        """Time left before the deadline (``None`` when there is none)."""
        return None if self.deadline_s is None else self.deadline_s - elapsed_s


class RetryingProvider:
    """A provider that retries another one under a ``RetryPolicy``; it keeps the wrapped provider's name."""

    def __init__(
        self,
        inner: Provider,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.name = inner.name
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._clock = clock
        self._rng = rng or random.Random()

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                completion = self.inner.complete(prompt, self._bounded(settings, started, attempt))
            except ProviderError as error:
                delay = self._after_failure(error, attempt, started)
                self._sleep(delay)
                continue
            return _with_attempts(completion, attempt)

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                completion = await self.inner.acomplete(prompt, self._bounded(settings, started, attempt))
            except ProviderError as error:
                delay = self._after_failure(error, attempt, started)
                await self._async_sleep(delay)
                continue
            return _with_attempts(completion, attempt)

    def _after_failure(self, error: ProviderError, attempt: int, started: float) -> float:
        """The delay before the next attempt; re-raises ``error`` when the policy gives up."""
        delay = self.policy.next_delay(attempt, error, self._clock() - started, self._rng)
        if delay is None:
            if attempt > 1:
                error.add_note(f"promptevolve: gave up after {attempt} attempts ({self.inner.name})")
            raise error
        return delay

    def _bounded(self, settings: ModelSettings, started: float, attempt: int) -> ModelSettings:
        """The settings with ``timeout_s`` lowered to the time left before the deadline."""
        remaining = self.policy.remaining_s(self._clock() - started)
        if remaining is None:
            return settings
        if remaining <= 0:
            raise ProviderTimeoutError(
                f"retry deadline of {self.policy.deadline_s} s passed before attempt {attempt} "
                f"({self.inner.name}): raise RetryPolicy.deadline_s"
            )
        if settings.timeout_s is not None and settings.timeout_s <= remaining:
            return settings
        return settings.model_copy(update={"timeout_s": remaining})


def with_retries(
    provider: Provider,
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> RetryingProvider:
    """Wrap ``provider`` so that retryable errors are retried under ``policy`` (default ``RetryPolicy()``).

    ``sleep``, ``async_sleep``, ``clock`` (monotonic seconds) and ``rng`` are injectable for tests.
    """
    return RetryingProvider(
        provider, policy or RetryPolicy(), sleep=sleep, async_sleep=async_sleep, clock=clock, rng=rng
    )


def _with_attempts(completion: Completion, attempts: int) -> Completion:
    return dataclasses.replace(completion, extra={**completion.extra, "attempts": attempts})
