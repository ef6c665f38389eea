"""Retries: the backoff schedule, what is retried, the deadline. Sleep and clock are injected."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.providers.provider_prompts import CAPITAL_QUESTION

from promptevolve.core.errors import (
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from promptevolve.core.protocols import ManualClock, Provider
from promptevolve.core.types import ModelSettings
from promptevolve.providers.retry import RetryingProvider, RetryPolicy, with_retries
from promptevolve.providers.scripted import ScriptedProvider

SETTINGS = ModelSettings(max_tokens=8)


class HighestDraw(random.Random):
    """A generator whose uniform draws always return the top of the range: the jitter's worst case."""

    def uniform(self, a: float, b: float) -> float:
        return b


def unavailable() -> ProviderUnavailableError:
    return ProviderUnavailableError("down for testing")


def retrying(
    inner: Provider, policy: RetryPolicy, clock: ManualClock | None = None
) -> tuple[RetryingProvider, list[float]]:
    """A retrying provider whose sleeps are recorded and, when a clock is given, advance it."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if clock is not None:
            clock.advance(seconds)

    options = {"clock": clock.now} if clock is not None else {}
    return with_retries(inner, policy, sleep=sleep, rng=HighestDraw(), **options), sleeps


def test_backoff_caps_grow_exponentially_up_to_the_maximum() -> None:
    policy = RetryPolicy(base_delay_s=0.5, multiplier=2.0, max_delay_s=4.0)

    assert [policy.backoff_cap(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@given(
    attempt=st.integers(min_value=1, max_value=50),
    seed=st.integers(min_value=0, max_value=2**32),
    base=st.floats(min_value=0.0, max_value=5.0),
)
def test_full_jitter_draws_between_zero_and_the_cap(attempt: int, seed: int, base: float) -> None:
    policy = RetryPolicy(max_attempts=100, base_delay_s=base, max_delay_s=10.0, deadline_s=None)

    delay = policy.next_delay(attempt, unavailable(), 0.0, random.Random(seed))

    assert delay is not None
    assert 0.0 <= delay <= policy.backoff_cap(attempt) <= 10.0


def test_retryable_errors_are_retried_with_the_backoff_schedule() -> None:
    inner = ScriptedProvider([unavailable(), ProviderTimeoutError("slow"), unavailable(), "ok"])
    provider, sleeps = retrying(inner, RetryPolicy(max_attempts=4, base_delay_s=0.5, deadline_s=None))

    completion = provider.complete(CAPITAL_QUESTION, SETTINGS)

    assert completion.text == "ok"
    assert completion.extra["attempts"] == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert inner.call_count == 4


def test_non_retryable_errors_are_raised_at_once() -> None:
    inner = ScriptedProvider([ProviderError("bad request"), "ok"])
    provider, sleeps = retrying(inner, RetryPolicy(max_attempts=5))

    with pytest.raises(ProviderError, match="bad request"):
        provider.complete(CAPITAL_QUESTION, SETTINGS)

    assert inner.call_count == 1
    assert sleeps == []


def test_an_error_marked_retryable_on_the_instance_is_retried() -> None:
    flaky = ProviderError("conflict")
    flaky.retryable = True
    inner = ScriptedProvider([flaky, "ok"])
    provider, _ = retrying(inner, RetryPolicy())

    assert provider.complete(CAPITAL_QUESTION, SETTINGS).text == "ok"


def test_errors_outside_the_provider_tree_are_not_retried() -> None:
    def broken(prompt: object, settings: object) -> str:
        raise ValueError("a bug, not an outage")

    inner = ScriptedProvider(broken)
    provider, _ = retrying(inner, RetryPolicy())

    with pytest.raises(ValueError):
        provider.complete(CAPITAL_QUESTION, SETTINGS)

    assert inner.call_count == 1


def test_gives_up_after_max_attempts_with_the_last_error_and_a_note() -> None:
    inner = ScriptedProvider(fail_with=unavailable())
    provider, sleeps = retrying(inner, RetryPolicy(max_attempts=3, deadline_s=None))

    with pytest.raises(ProviderUnavailableError) as raised:
        provider.complete(CAPITAL_QUESTION, SETTINGS)

    assert inner.call_count == 3
    assert len(sleeps) == 2
    assert any("gave up after 3 attempts" in note for note in raised.value.__notes__)


def test_the_deadline_stops_retrying_before_a_sleep_would_pass_it() -> None:
    clock = ManualClock(start=0.0)
    inner = ScriptedProvider(fail_with=unavailable())
    policy = RetryPolicy(max_attempts=10, base_delay_s=1.0, multiplier=2.0, deadline_s=3.5)
    provider, sleeps = retrying(inner, policy, clock)

    with pytest.raises(ProviderUnavailableError):
        provider.complete(CAPITAL_QUESTION, SETTINGS)

    # Waits of 1 then 2 seconds bring the clock to 3; a third wait of 4 would end past 3.5.
    assert sleeps == [1.0, 2.0]
    assert inner.call_count == 3
    assert clock.now() <= policy.deadline_s


def test_each_attempt_gets_only_the_time_left_before_the_deadline() -> None:
    clock = ManualClock(start=0.0)
    inner = ScriptedProvider([unavailable(), unavailable(), "ok"])
    policy = RetryPolicy(max_attempts=3, base_delay_s=1.0, deadline_s=10.0)
    provider, _ = retrying(inner, policy, clock)

    provider.complete(CAPITAL_QUESTION, SETTINGS.model_copy(update={"timeout_s": 8.0}))

    assert [settings.timeout_s for _, settings in inner.calls] == [8.0, 8.0, 7.0]


def test_async_retries_use_the_async_sleep() -> None:
    inner = ScriptedProvider([unavailable(), "ok"])
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    provider = with_retries(inner, RetryPolicy(base_delay_s=0.25), async_sleep=fake_sleep, rng=HighestDraw())

    completion = asyncio.run(provider.acomplete(CAPITAL_QUESTION, SETTINGS))

    assert completion.text == "ok"
    assert completion.extra["attempts"] == 2
    assert sleeps == [0.25]


def test_the_retrying_provider_is_a_provider_with_the_inner_name() -> None:
    provider = with_retries(ScriptedProvider(name="inner"))

    assert isinstance(provider, Provider)
    assert provider.name == "inner"
    assert provider.policy == RetryPolicy()


@pytest.mark.parametrize(
    "options",
    [
        {"max_attempts": 0},
        {"base_delay_s": -1.0},
        {"base_delay_s": 5.0, "max_delay_s": 1.0},
        {"multiplier": 0.5},
    ],
)
def test_an_impossible_policy_is_a_configuration_error(options: dict) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**options)
