"""Redis for the engine tests: GAMIFY_TEST_REDIS_URL, else an embedded one of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from engine.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("GAMIFY_TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as redis:
        yield redis.url
