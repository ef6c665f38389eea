"""The scripted test double: replies, failures, latency, counting and thread safety."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.providers.provider_prompts import CAPITAL_QUESTION, chat, text

from promptevolve.core.errors import (
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from promptevolve.core.protocols import Provider
from promptevolve.core.types import ModelSettings, RenderedPrompt
from promptevolve.providers.scripted import ScriptedProvider

SETTINGS = ModelSettings(max_tokens=50)


def test_list_replies_come_in_order_then_run_out_with_a_clear_error() -> None:
    provider = ScriptedProvider(["one", "two"])

    assert [provider.complete(CAPITAL_QUESTION, SETTINGS).text for _ in range(2)] == ["one", "two"]
    with pytest.raises(ConfigurationError, match="ran out of replies at call 3"):
        provider.complete(CAPITAL_QUESTION, SETTINGS)


def test_cycled_replies_start_again() -> None:
    provider = ScriptedProvider(["a", "b"], cycle=True)

    assert [provider.complete(CAPITAL_QUESTION, SETTINGS).text for _ in range(5)] == ["a", "b", "a", "b", "a"]


def test_a_callable_reply_sees_the_prompt_and_settings() -> None:
    def echo(prompt: RenderedPrompt, settings: ModelSettings) -> str:
        return f"{settings.model}: {prompt.as_text()}"

    completion = ScriptedProvider(echo).complete(text("hello there"), SETTINGS)

    assert completion.text == "smollm2-135m-instruct: hello there"


def test_a_mapping_reply_matches_exact_text_then_a_contained_key_then_the_default() -> None:
    provider = ScriptedProvider({"exact prompt": "exact", "France": "Paris"}, default="no idea")

    assert provider.complete(text("exact prompt"), SETTINGS).text == "exact"
    assert provider.complete(CAPITAL_QUESTION, SETTINGS).text == "Paris"
    assert provider.complete(text("something else"), SETTINGS).text == "no idea"


def test_a_mapping_without_a_match_or_default_names_the_prompt() -> None:
    with pytest.raises(ConfigurationError, match="no reply for a prompt starting 'something else'"):
        ScriptedProvider({"France": "Paris"}).complete(text("something else"), SETTINGS)


def test_errors_in_the_reply_list_are_raised_at_their_turn() -> None:
    provider = ScriptedProvider([ProviderUnavailableError("down"), "up again"])

    with pytest.raises(ProviderUnavailableError, match="down"):
        provider.complete(CAPITAL_QUESTION, SETTINGS)
    assert provider.complete(CAPITAL_QUESTION, SETTINGS).text == "up again"


def test_fail_with_and_set_failure_make_every_call_fail_until_cleared() -> None:
    provider = ScriptedProvider(["fine"], cycle=True, fail_with=ProviderError("broken"))

    with pytest.raises(ProviderError, match="broken"):
        provider.complete(CAPITAL_QUESTION, SETTINGS)
    provider.set_failure(None)
    assert provider.complete(CAPITAL_QUESTION, SETTINGS).text == "fine"
    provider.set_failure(ProviderUnavailableError("outage"))
    with pytest.raises(ProviderUnavailableError, match="outage"):
        provider.complete(CAPITAL_QUESTION, SETTINGS)
    assert provider.call_count == 3


def test_each_failure_is_a_fresh_error_of_the_same_kind() -> None:
    original = ProviderError("custom")
    original.retryable = True
    provider = ScriptedProvider(fail_with=original)

    raised = []
    for _ in range(2):
        with pytest.raises(ProviderError) as info:
            provider.complete(CAPITAL_QUESTION, SETTINGS)
        raised.append(info.value)

    assert raised[0] is not raised[1] and raised[0] is not original
    assert all(type(e) is ProviderError and e.retryable and str(e) == "custom" for e in raised)


def test_simulated_latency_is_reported_without_sleeping() -> None:
    provider = ScriptedProvider(["ok"], latency_s=30.0)
    started = time.perf_counter()

    completion = provider.complete(CAPITAL_QUESTION, SETTINGS)

    assert completion.latency_ms == 30_000.0
    assert time.perf_counter() - started < 5.0


def test_latency_can_really_be_waited() -> None:
    provider = ScriptedProvider(["ok"], latency_s=0.05, sleep=True)
    started = time.perf_counter()

    provider.complete(CAPITAL_QUESTION, SETTINGS)

    assert time.perf_counter() - started >= 0.05


def test_latency_beyond_the_timeout_raises_provider_timeout_error() -> None:
    provider = ScriptedProvider(latency_s=2.0)

    with pytest.raises(ProviderTimeoutError, match="timeout_s=1.0"):
        provider.complete(CAPITAL_QUESTION, SETTINGS.model_copy(update={"timeout_s": 1.0}))
    assert provider.complete(CAPITAL_QUESTION, SETTINGS.model_copy(update={"timeout_s": 3.0})).text == "ok"


def test_token_counts_are_whitespace_words_and_max_tokens_and_stop_cut_the_reply() -> None:
    provider = ScriptedProvider(["one two three four five", "alpha beta. gamma"])

    cut = provider.complete(text("a b c"), ModelSettings(max_tokens=3))
    stopped = provider.complete(chat(("user", "x y")), ModelSettings(stop=(".",)))

    assert (cut.text, cut.prompt_tokens, cut.completion_tokens, cut.finish_reason) == (
        "one two three",
        3,
        3,
        "length",
    )
    assert (stopped.text, stopped.finish_reason) == ("alpha beta", "stop")
    assert stopped.prompt_tokens == len(chat(("user", "x y")).as_text().split())


def test_calls_are_counted_and_recorded() -> None:
    provider = ScriptedProvider(["a", "b"])
    provider.complete(text("first"), SETTINGS)
    provider.complete(text("second"), ModelSettings(max_tokens=7))

    assert provider.call_count == 2
    assert [(p.text, s.max_tokens) for p, s in provider.calls] == [("first", 50), ("second", 7)]


def test_threads_get_every_listed_reply_exactly_once() -> None:
    replies = [f"reply {n}" for n in range(400)]
    provider = ScriptedProvider(replies)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: provider.complete(CAPITAL_QUESTION, SETTINGS).text, range(400)))

    assert sorted(answers) == sorted(replies)
    assert provider.call_count == 400


def test_async_calls_behave_like_sync_ones() -> None:
    provider = ScriptedProvider(["a", ProviderUnavailableError("down")], latency_s=0.01, sleep=True)

    async def run() -> tuple[str, type[BaseException]]:
        first = await provider.acomplete(CAPITAL_QUESTION, SETTINGS)
        with pytest.raises(ProviderUnavailableError) as raised:
            await provider.acomplete(CAPITAL_QUESTION, SETTINGS)
        return first.text, raised.type

    assert asyncio.run(run()) == ("a", ProviderUnavailableError)


def test_the_scripted_provider_is_a_provider() -> None:
    provider = ScriptedProvider()

    assert isinstance(provider, Provider)
    assert provider.name == "scripted"
    assert [provider.complete(CAPITAL_QUESTION, SETTINGS).text for _ in range(3)] == ["ok"] * 3


def test_a_single_string_is_refused_as_a_script() -> None:
    with pytest.raises(ConfigurationError, match="list of strings"):
        ScriptedProvider("just one")  # type: ignore[arg-type]
