"""The engine served by uvicorn on 127.0.0.1 (in this process, sharing the test database),
real HTTP for the changes and real WebSockets for the subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from starlette.applications import Starlette

from core.broker import Broker
from core.settings import Settings
from engine.app import create_app
from engine.graphql import GamifyGraphQL
from engine.websocket import FrameWritingProtocol
from models.tenancy.access import create_api_key
from tests.factories import PASSWORD, make_member, make_reward, make_tenant
from tests.graphql_client import graphql_value
from tests.serving import uvicorn_serving

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
MEMBER_TOKEN = "mutation($id: ID!) { createMemberToken(memberId: $id) { token errors { code } } }"
REDEEM = """
mutation($rewardId: ID!, $memberId: ID) {
  redeemReward(rewardId: $rewardId, memberId: $memberId) {
    redemption { id status } errors { code message }
  }
}"""
COMPLETE = """
mutation($id: ID!, $status: CompletionStatus!, $data: JSON) {
  completeRedemption(id: $id, status: $status, data: $data) {
    redemption { id status } errors { code message }
  }
}"""
CANCEL = """
mutation($id: ID!, $reason: String) {
  cancelRedemption(id: $id, reason: $reason) { redemption { id status } errors { code message } }
}"""
AWARD = """
mutation($input: AwardPointsInput!) {
  awardPoints(input: $input) { account { balance } errors { code message } }
}"""


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:<port>
    app: Starlette
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/graphql"

    @property
    def graphql(self) -> GamifyGraphQL:
        for route in self.app.routes:
            endpoint = getattr(route, "endpoint", None)
            if isinstance(endpoint, GamifyGraphQL):
                return endpoint
        raise AssertionError("no GraphQL route")

    @property
    def broker(self) -> Broker:
        """The server's broker (set by the app's lifespan)."""
        broker: Broker = self.graphql.broker
        return broker

    def members(self, tenant_id: UUID) -> list[Any]:
        """The tenant's subscriptions in shared groups (the groups have no public view of
        their members: tests peek)."""
        return [m for m in self.graphql.live_groups.members() if m.group.key[0][1] == tenant_id]

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """A GraphQL operation over HTTP; its single field's value, which must carry no error."""
        result: dict[str, Any] = await graphql_value(self.http, query, variables, token)
        return result


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, ws: type[asyncio.Protocol] | str = FrameWritingProtocol
) -> AsyncIterator[LiveServer]:
    """uvicorn on a free port of 127.0.0.1, with the WebSocket protocol `gamify serve` uses
    unless told otherwise; stopped (connections closed) on exit."""
    app = create_app(settings, init_orm=False)
    async with (
        uvicorn_serving(app, lifespan="on", ws=ws) as url,
        httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as http,
    ):
        yield LiveServer(url, app, http)


@pytest.fixture
def live_settings(settings: Settings, redis_url: str) -> Settings:
    return dataclasses.replace(settings, redis_url=redis_url)


@pytest.fixture
async def broker(redis_url: str) -> AsyncIterator[Broker]:
    """A broker of the test's own (no app), on the test Redis."""
    running = Broker(redis_url)
    yield running
    await running.close()


@pytest.fixture
async def server(db: str, live_settings: Settings) -> AsyncIterator[LiveServer]:
    async with serving(live_settings) as running:
        yield running


@dataclass
class Shop:
    """A tenant as its admin, its backend and one member see it."""

    tenant_id: UUID
    admin_token: str
    api_key: str
    member_id: UUID
    member_token: str
    reward_id: UUID


async def open_shop(
    server: LiveServer, *, points: int = 1000, point_cost: int = 100, stock: int | None = 10
) -> Shop:
    """A tenant, an admin logged in over HTTP, an API key, a member with points and a token,
    and a reward (rows written directly: nothing of this is published)."""
    new = await make_tenant()
    admin = await server.gql(LOGIN, {"e": new.admin.email, "p": PASSWORD})
    _, key = await create_api_key(new.tenant.id, "backend")
    member = await make_member(new.tenant.id, points=points)
    reward = await make_reward(new.tenant.id, point_cost=point_cost, stock=stock)
    token = await server.gql(MEMBER_TOKEN, {"id": str(member.id)}, key)
    return Shop(new.tenant.id, admin["token"], key, member.id, token["token"], reward.id)


async def add_member(server: LiveServer, shop: Shop, points: int) -> tuple[UUID, str]:
    """Another member of the shop, with its token."""
    member = await make_member(shop.tenant_id, points=points)
    token = await server.gql(MEMBER_TOKEN, {"id": str(member.id)}, shop.api_key)
    return member.id, token["token"]


async def redeem(
    server: LiveServer, token: str, reward_id: UUID, member_id: UUID | None = None
) -> str:
    variables = {"rewardId": str(reward_id), "memberId": str(member_id) if member_id else None}
    payload = await server.gql(REDEEM, variables, token)
    redemption_id: str = payload["redemption"]["id"]
    return redemption_id
