"""A tenant that follows a point master, and an HTTP client on the real app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from core.settings import Settings
from engine.app import create_app
from models.pointmaster.modes import set_point_mode
from models.tenancy.access import create_api_key
from models.tenancy.tables import PointMode
from tests.factories import make_tenant
from tests.pointmaster.live_engine import Engine, running_engine
from tests.webhooks.receiver import Receiver, running_receiver

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Follower:
    tenant_id: UUID
    api_key: str
    http: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def post(self, what: str, body: Any) -> httpx.Response:
        return await self.http.post(
            f"/api/v2/point-accounts/{what}", json=body, headers=self.headers
        )

    async def status(self, what: str, batch_id: str) -> httpx.Response:
        return await self.http.get(
            f"/api/v2/point-accounts/{what}/status/{batch_id}", headers=self.headers
        )


@pytest.fixture
async def http(db: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, init_orm=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def follower_of(http: httpx.AsyncClient, mode: PointMode) -> Follower:
    tenant = (await make_tenant()).tenant
    await set_point_mode(tenant.id, mode, actor="test")
    _, key = await create_api_key(tenant.id, "point master")
    return Follower(tenant.id, key, http)


@pytest.fixture
async def balances_follower(http: httpx.AsyncClient) -> Follower:
    return await follower_of(http, PointMode.FOLLOWER_BALANCE)


@pytest.fixture
async def transactions_follower(http: httpx.AsyncClient) -> Follower:
    return await follower_of(http, PointMode.FOLLOWER_TRANSACTIONS)


@pytest.fixture
async def master() -> AsyncIterator[Receiver]:
    """A fake point master: a real HTTP server on 127.0.0.1 that records what it gets."""
    async with running_receiver() as running:
        yield running


@pytest.fixture
async def engine(db: str, settings: Settings, redis_url: str) -> AsyncIterator[Engine]:
    """The app with a real queue and worker; the master is on 127.0.0.1, so private
    targets are allowed here (as in development)."""
    local = replace(settings, webhook_allow_private=True, webhook_timeout=2.0)
    async with running_engine(local, redis_url) as running:
        yield running
