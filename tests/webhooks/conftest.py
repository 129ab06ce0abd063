from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from core.settings import Settings
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.worker_process import Queue, open_queue
from workers.webhook_http import new_client

DELIVERY_TIMEOUT = 10.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Tests deliver to 127.0.0.1, so private targets are allowed here (as in development).
    The timeout is generous: a loaded 2-core machine must not turn an answer into a timeout
    (the timeout tests set a short one against a receiver that waits far longer)."""
    return replace(settings, webhook_allow_private=True, webhook_timeout=DELIVERY_TIMEOUT)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(timeout=DELIVERY_TIMEOUT) as client:
        yield client


@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[Queue]:
    """An arq queue of the test's own, on the webhook tests' Redis database."""
    async with open_queue(redis_url) as opened:
        yield opened
