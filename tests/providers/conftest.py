"""Fixtures of the provider tests: the real local model, and an OpenAI-protocol server in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai_server import ServerHandle, running_server

from promptevolve.providers.local import LocalProvider


@pytest.fixture(scope="session")
def local_provider() -> LocalProvider:
    return LocalProvider()


@pytest.fixture(scope="session")
def openai_server(local_provider: LocalProvider) -> Iterator[ServerHandle]:
    with running_server(local_provider) as handle:
        yield handle
