"""The OpenAI-compatible provider over real HTTP, against a local server that speaks the OpenAI protocol.

The server (``openai_server.py``) serves the real local model; special model names make it fail or stall.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from tests.providers.openai_server import ServerHandle
from tests.providers.provider_prompts import CAPITAL_QUESTION, SENTIMENT_FEW_SHOT, chat, text

from promptevolve.core.errors import (
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from promptevolve.core.protocols import Provider
from promptevolve.core.types import ModelSettings
from promptevolve.providers.local import LocalProvider
from promptevolve.providers.openai_compat import OpenAICompatProvider
from promptevolve.providers.retry import RetryPolicy, with_retries

GREEDY = ModelSettings(model="smollm2", temperature=0.0, seed=0, max_tokens=16)
SENTIMENT = text(SENTIMENT_FEW_SHOT.format(review="Terrible service and the room was dirty."))


@pytest.fixture(scope="module")
def provider(openai_server: ServerHandle) -> OpenAICompatProvider:
    return OpenAICompatProvider(base_url=openai_server.base_url, timeout_s=30.0)


def last_request(server: ServerHandle) -> dict:
    return server.requests[-1]


def test_chat_prompt_goes_to_chat_completions_with_usage(
    provider: OpenAICompatProvider, openai_server: ServerHandle
) -> None:
    completion = provider.complete(CAPITAL_QUESTION, GREEDY)

    assert completion.text.strip()
    assert completion.prompt_tokens > 10
    assert 1 <= completion.completion_tokens <= 16
    assert completion.model == "smollm2"
    assert completion.finish_reason in {"stop", "length"}
    assert last_request(openai_server)["path"] == "/v1/chat/completions"


def test_the_server_path_gives_the_same_greedy_answer_as_the_embedded_model(
    provider: OpenAICompatProvider, local_provider: LocalProvider
) -> None:
    over_http = provider.complete(CAPITAL_QUESTION, GREEDY)
    in_process = local_provider.complete(CAPITAL_QUESTION, GREEDY)

    assert over_http.text == in_process.text
    assert over_http.completion_tokens == in_process.completion_tokens


def test_text_prompt_goes_to_the_completions_endpoint(
    provider: OpenAICompatProvider, openai_server: ServerHandle
) -> None:
    completion = provider.complete(SENTIMENT, GREEDY.model_copy(update={"stop": ("\n",), "max_tokens": 4}))

    assert completion.text.strip() == "negative"
    request = last_request(openai_server)
    assert request["path"] == "/v1/completions"
    assert request["body"]["prompt"] == SENTIMENT.text


def test_text_mode_chat_sends_a_text_prompt_as_one_user_message(openai_server: ServerHandle) -> None:
    provider = OpenAICompatProvider(base_url=openai_server.base_url, text_mode="chat")

    provider.complete(SENTIMENT, GREEDY.model_copy(update={"max_tokens": 2}))

    request = last_request(openai_server)
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["messages"] == [{"role": "user", "content": SENTIMENT.text}]


def test_settings_are_sent_as_max_tokens_and_body_fields(
    provider: OpenAICompatProvider, openai_server: ServerHandle
) -> None:
    settings = ModelSettings(
        model="smollm2",
        temperature=0.3,
        max_tokens=5,
        top_p=0.9,
        stop=("\n\n",),
        seed=7,
        repeat_penalty=1.3,
        response_format="json",
        top_k=20,
        model_path="/only/for/the/local/provider.gguf",
    )

    provider.complete(CAPITAL_QUESTION, settings)

    body = last_request(openai_server)["body"]
    assert body["max_tokens"] == 5
    assert "max_completion_tokens" not in body
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["stop"] == ["\n\n"]
    assert body["seed"] == 7
    assert body["repeat_penalty"] == 1.3
    assert body["response_format"] == {"type": "json_object"}
    assert body["top_k"] == 20
    assert "model_path" not in body


def test_a_json_schema_is_sent_as_openai_structured_output(
    provider: OpenAICompatProvider, openai_server: ServerHandle
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

    provider.complete(CAPITAL_QUESTION, ModelSettings(model="smollm2", max_tokens=2, json_schema=schema))

    body = last_request(openai_server)["body"]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }
    assert "json_schema" not in body


def test_choices_go_as_a_structured_output_and_come_back_as_the_bare_label(
    provider: OpenAICompatProvider, openai_server: ServerHandle
) -> None:
    settings = ModelSettings(model="smollm2", max_tokens=30, temperature=0.0, choices=["yes", "no"])

    completion = provider.complete(chat(("user", "Is Paris in France?")), settings)

    assert completion.text in {"yes", "no"}
    body = openai_server.requests[-1]["body"]
    enum = body["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"]
    assert enum == ["yes", "no"]
    assert "choices" not in body


def test_unset_optional_settings_are_not_sent(
    provider: OpenAICompatProvider, openai_server: ServerHandle
) -> None:
    provider.complete(
        SENTIMENT, ModelSettings(model="smollm2", max_tokens=2, seed=None, response_format="json")
    )

    body = last_request(openai_server)["body"]
    assert set(body) == {"model", "prompt", "temperature", "max_tokens"}


def test_server_errors_5xx_are_retryable_unavailable(provider: OpenAICompatProvider) -> None:
    with pytest.raises(ProviderUnavailableError, match="HTTP 500: scripted 500 for testing") as raised:
        provider.complete(CAPITAL_QUESTION, GREEDY.model_copy(update={"model": "error-500"}))

    assert raised.value.retryable


def test_rate_limits_are_retryable_unavailable(provider: OpenAICompatProvider) -> None:
    with pytest.raises(ProviderUnavailableError, match="HTTP 429") as raised:
        provider.complete(CAPITAL_QUESTION, GREEDY.model_copy(update={"model": "error-429"}))

    assert raised.value.retryable


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retryable_and_carry_the_server_message(
    provider: OpenAICompatProvider, status: int
) -> None:
    with pytest.raises(ProviderError, match=f"HTTP {status}: scripted {status} for testing") as raised:
        provider.complete(CAPITAL_QUESTION, GREEDY.model_copy(update={"model": f"error-{status}"}))

    assert type(raised.value) is ProviderError
    assert not raised.value.retryable


def test_a_prompt_too_long_for_the_served_model_comes_back_as_a_non_retryable_error(
    provider: OpenAICompatProvider,
) -> None:
    with pytest.raises(ProviderError, match="exceeds the available context size .* larger n_ctx") as raised:
        provider.complete(text("word " * 3000), GREEDY)

    assert not raised.value.retryable


def test_a_slow_server_raises_provider_timeout_error(provider: OpenAICompatProvider) -> None:
    settings = GREEDY.model_copy(update={"model": "slow-3", "timeout_s": 0.3})

    with pytest.raises(ProviderTimeoutError) as raised:
        provider.complete(CAPITAL_QUESTION, settings)

    assert raised.value.retryable


def test_an_unreachable_server_is_retryable_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the call: nothing listens there
    provider = OpenAICompatProvider(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=5.0)

    with pytest.raises(ProviderUnavailableError, match="cannot reach") as raised:
        provider.complete(CAPITAL_QUESTION, GREEDY)

    assert raised.value.retryable


def test_retries_recover_from_a_flaky_server_end_to_end(
    provider: OpenAICompatProvider, openai_server: ServerHandle
) -> None:
    sleeps: list[float] = []
    retrying = with_retries(provider, RetryPolicy(max_attempts=4, base_delay_s=0.01), sleep=sleeps.append)

    completion = retrying.complete(CAPITAL_QUESTION, GREEDY.model_copy(update={"model": "flaky-sync-2"}))

    assert completion.text.strip()
    assert completion.extra["attempts"] == 3
    assert len(sleeps) == 2


def test_async_calls_work_and_translate_errors_too(provider: OpenAICompatProvider) -> None:
    async def run() -> tuple[str, BaseException]:
        completion = await provider.acomplete(CAPITAL_QUESTION, GREEDY)
        try:
            await provider.acomplete(CAPITAL_QUESTION, GREEDY.model_copy(update={"model": "error-503"}))
        except ProviderError as exc:
            return completion.text, exc
        raise AssertionError("error-503 did not raise")

    answer, error = asyncio.run(run())
    answer_again, _ = asyncio.run(run())  # a second event loop reuses the same async client

    assert answer.strip()
    assert answer_again == answer
    assert isinstance(error, ProviderUnavailableError)


def test_async_retries_recover_from_a_flaky_server(provider: OpenAICompatProvider) -> None:
    async def no_sleep(_: float) -> None:
        return None

    retrying = with_retries(provider, RetryPolicy(max_attempts=3, base_delay_s=0.01), async_sleep=no_sleep)

    completion = asyncio.run(
        retrying.acomplete(CAPITAL_QUESTION, GREEDY.model_copy(update={"model": "flaky-async-1"}))
    )

    assert completion.extra["attempts"] == 2


def test_provider_satisfies_the_protocol_and_needs_no_key_for_a_local_server(
    openai_server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    provider = OpenAICompatProvider(base_url=openai_server.base_url)

    assert isinstance(provider, Provider)
    assert provider.name == "openai"


def test_without_a_key_or_base_url_configuration_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAICompatProvider()


def test_an_unknown_text_mode_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="text_mode"):
        OpenAICompatProvider(base_url="http://127.0.0.1:1/v1", text_mode="edits")  # type: ignore[arg-type]
