"""The optional LiteLLM provider: without LiteLLM installed it says what to install."""

from __future__ import annotations

import importlib.util

import pytest

from promptevolve.core.errors import ConfigurationError
from promptevolve.providers.litellm_provider import LiteLLMProvider
from promptevolve.providers.registry import create_provider

litellm_missing = pytest.mark.skipif(
    importlib.util.find_spec("litellm") is not None, reason="LiteLLM is installed here"
)


@litellm_missing
def test_without_litellm_creating_the_provider_names_the_extra_to_install() -> None:
    with pytest.raises(ConfigurationError, match=r"promptevolve\[litellm\]"):
        LiteLLMProvider()


@litellm_missing
def test_without_litellm_the_registry_reports_the_same_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"promptevolve\[litellm\]"):
        create_provider("litellm")
