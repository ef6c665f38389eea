from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.api.support import Api, running_api


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as harness:
        yield harness
