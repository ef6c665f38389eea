"""Fixtures of the provider tests: the real local model, and an OpenAI-protocol server in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.providers.openai_server import ServerHandle, running_server

from promptevolve.providers.local import LocalProvider

#: Tests run the model on one thread. With llama.cpp's default of spinning worker threads, a 2-core box
#: shared with other busy processes (parallel test runs, other model processes) slows calls 5-50x;
#: one thread keeps the suite's time steady. Greedy output does not depend on the thread count.
TEST_THREADS = 1


@pytest.fixture(scope="session")
def local_provider() -> LocalProvider:
    return LocalProvider(n_threads=TEST_THREADS)


@pytest.fixture(scope="session")
def openai_server(local_provider: LocalProvider) -> Iterator[ServerHandle]:
    with running_server(local_provider) as handle:
        yield handle
