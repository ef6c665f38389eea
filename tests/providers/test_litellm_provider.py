"""The optional LiteLLM provider: a clear error without LiteLLM; with it, real calls over HTTP.

With LiteLLM installed, it is driven end to end against the OpenAI-protocol test server (LiteLLM's
``openai/<model>`` route with ``api_base``), so the settings and error translation run for real.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from tests.providers.openai_server import ServerHandle
from tests.providers.provider_prompts import CAPITAL_QUESTION, SENTIMENT_FEW_SHOT, text

from promptevolve.core.errors import (
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from promptevolve.core.types import ModelSettings
from promptevolve.providers.litellm_provider import LiteLLMProvider
from promptevolve.providers.registry import create_provider

needs_litellm = pytest.mark.skipif(
    importlib.util.find_spec("litellm") is None, reason="LiteLLM not installed"
)
GREEDY = ModelSettings(model="openai/smollm2", temperature=0.0, seed=0, max_tokens=12)


def test_without_litellm_creating_the_provider_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # what an environment without LiteLLM looks like

    with pytest.raises(ConfigurationError, match=r"promptevolve\[litellm\]"):
        LiteLLMProvider()
    with pytest.raises(ConfigurationError, match=r"promptevolve\[litellm\]"):
        create_provider("litellm")


@pytest.fixture(scope="module")
def litellm_provider(openai_server: ServerHandle) -> LiteLLMProvider:
    return LiteLLMProvider(api_base=openai_server.base_url, api_key="sk-test", timeout_s=30.0)


@needs_litellm
@pytest.mark.slow
def test_litellm_calls_reach_the_server_with_our_settings(
    litellm_provider: LiteLLMProvider, openai_server: ServerHandle
) -> None:
    completion = litellm_provider.complete(
        CAPITAL_QUESTION, GREEDY.model_copy(update={"repeat_penalty": 1.2})
    )

    assert completion.text.strip()
    assert completion.prompt_tokens > 10 and 1 <= completion.completion_tokens <= 12
    body = openai_server.requests[-1]["body"]
    assert body["max_tokens"] == 12 and body["seed"] == 0 and body["temperature"] == 0.0


@needs_litellm
@pytest.mark.slow
def test_litellm_sends_text_prompts_as_one_user_message(
    litellm_provider: LiteLLMProvider, openai_server: ServerHandle
) -> None:
    prompt = text(SENTIMENT_FEW_SHOT.format(review="Awful."))

    litellm_provider.complete(prompt, GREEDY.model_copy(update={"max_tokens": 2}))

    assert openai_server.requests[-1]["body"]["messages"] == [{"role": "user", "content": prompt.text}]


@needs_litellm
@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "error", "retryable"),
    [
        ("openai/error-500", ProviderUnavailableError, True),
        ("openai/error-429", ProviderUnavailableError, True),
        ("openai/error-400", ProviderError, False),
    ],
)
def test_litellm_errors_are_translated_like_openai_ones(
    litellm_provider: LiteLLMProvider, model: str, error: type[ProviderError], retryable: bool
) -> None:
    with pytest.raises(error) as raised:
        litellm_provider.complete(CAPITAL_QUESTION, GREEDY.model_copy(update={"model": model}))

    assert raised.value.retryable is retryable


@needs_litellm
@pytest.mark.slow
def test_litellm_timeouts_are_provider_timeouts(litellm_provider: LiteLLMProvider) -> None:
    with pytest.raises(ProviderTimeoutError):
        litellm_provider.complete(
            CAPITAL_QUESTION, GREEDY.model_copy(update={"model": "openai/slow-3", "timeout_s": 0.5})
        )
