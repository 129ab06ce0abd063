"""A WebSocket's credential holds only while it is valid: checked again on every subscribe,
the socket closed at the token's expiry, and a revoked API key's sockets closed on every
API process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol
from uuid import UUID

import httpx
import pytest

from core import clock
from core.security import api_key_digest, issue_token
from core.settings import Settings
from models.tenancy.access import create_api_key, revoke_api_key
from models.tenancy.tables import ApiKey, TenantAdmin
from tests import dbsetup
from tests.graphql_client import graphql_value
from tests.live.client import REDEMPTION_UPDATES, Closed, SubscriptionClient
from tests.live.conftest import REDEEM, LiveServer, Shop, open_shop, serving
from tests.live.processes import (
    claimed_redis_database,
    engine_environment,
    engine_processes,
    outputs,
)

REVOKE_KEY = """
mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revokedAt } errors { code } } }"""
WAIT = 15.0


class Server(Protocol):
    """An API process: in this one (LiveServer) or a `gamify serve` child (Remote)."""

    @property
    def ws_url(self) -> str: ...

    @property
    def http(self) -> httpx.AsyncClient: ...


@dataclass
class Remote:
    ws_url: str
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def _remote(url: str, ws_url: str) -> AsyncIterator[Remote]:
    async with httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as http:
        yield Remote(ws_url, http)


async def _closed(client: SubscriptionClient, within: float = WAIT) -> Closed:
    """How the server closed the socket (its subscription "1" is reading it)."""
    operation = await client.ended("1", within)
    assert client.closed is not None, operation
    return client.closed


async def _key_id(key: str) -> UUID:
    row = await ApiKey.get(digest=api_key_digest(key))
    return row.id


async def test_a_revoked_api_key_cannot_subscribe_on_a_socket_it_opened_before(
    server: LiveServer,
) -> None:
    # given an API key's acknowledged socket
    shop = await open_shop(server)
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {shop.api_key}") as client:
        # when the key is revoked without anyone announcing it, and the socket subscribes
        await revoke_api_key(shop.tenant_id, await _key_id(shop.api_key))
        await client.subscribe("1", REDEMPTION_UPDATES)
        closed = await _closed(client)
    # then the subscription never starts: the socket is closed as forbidden
    assert (closed.code, closed.reason) == (4403, "API key revoked")
    assert not client.operations["1"].results


async def test_a_deleted_admin_cannot_subscribe_on_a_socket_it_opened_before(
    server: LiveServer,
) -> None:
    # given an admin's acknowledged socket
    shop = await open_shop(server)
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {shop.admin_token}") as client:
        # when the admin is removed, and the socket subscribes
        await TenantAdmin.filter(tenant_id=shop.tenant_id).delete()
        await client.subscribe("1", REDEMPTION_UPDATES)
        closed = await _closed(client)
    # then it is closed as forbidden, naming why
    assert (closed.code, closed.reason) == (4403, "Unknown admin")


async def test_a_deleted_admin_cannot_connect(server: LiveServer) -> None:
    # given an admin token whose admin is removed
    shop = await open_shop(server)
    await TenantAdmin.filter(tenant_id=shop.tenant_id).delete()
    # when it opens a socket
    async with SubscriptionClient.opened(server.ws_url) as client:
        await client.send(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {shop.admin_token}"}}
        )
        closed = await client.refused()
    # then the connection is refused
    assert closed.code == 4403


async def test_an_expired_token_cannot_subscribe_on_a_socket_it_opened_before(
    server: LiveServer,
) -> None:
    # given an admin's acknowledged socket
    shop = await open_shop(server)
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {shop.admin_token}") as client:
        # when its token's lifetime has passed (by the engine's clock), and it subscribes
        clock.advance(timedelta(seconds=server.graphql.settings.admin_token_ttl + 1))
        await client.subscribe("1", REDEMPTION_UPDATES)
        closed = await _closed(client)
    # then it is closed as the front ends expect of an expired token
    assert (closed.code, closed.reason) == (4401, "Token expired")


async def test_a_socket_is_closed_when_its_token_expires(
    server: LiveServer, live_settings: Settings
) -> None:
    # given a member token valid for four more seconds, watching its balance
    shop = await open_shop(server)
    token = issue_token(
        live_settings.secret_key, "member", str(shop.member_id), str(shop.tenant_id), 4
    )
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {token}") as client:
        await client.subscribe("1", "subscription { myBalanceChanged { balance } }")
        # when the token expires, the member doing nothing
        closed = await _closed(client)
    # then the server closes the socket with 4401 "Token expired"
    assert (closed.code, closed.reason) == (4401, "Token expired")


async def _redeem(server: Server, shop: Shop) -> str:
    variables = {"rewardId": str(shop.reward_id)}
    redeemed = await graphql_value(server.http, REDEEM, variables, shop.member_token)
    redemption_id: str = redeemed["redemption"]["id"]
    return redemption_id


async def _revoke_and_watch(a: Server, b: Server, shop: Shop) -> None:
    # given the shop's key watching on both processes, and another key of the shop on B
    _, other_key = await create_api_key(shop.tenant_id, "other")
    async with (
        SubscriptionClient.connected(a.ws_url, f"Bearer {shop.api_key}") as on_a,
        SubscriptionClient.connected(b.ws_url, f"Bearer {shop.api_key}") as on_b,
        SubscriptionClient.connected(b.ws_url, f"Bearer {other_key}") as other,
    ):
        for client in (on_a, on_b, other):
            await client.subscribe("1", REDEMPTION_UPDATES)
        # and all three hearing a first redemption (their subscriptions are running)
        await _redeem(a, shop)
        for client in (on_a, on_b, other):
            await client.collect("1", 2)
        # when the admin revokes the key through A
        key_id = str(await _key_id(shop.api_key))
        await graphql_value(a.http, REVOKE_KEY, {"id": key_id}, shop.admin_token)
        closed_a, closed_b = await _closed(on_a), await _closed(on_b)
        # and then a member redeems
        redemption = await _redeem(a, shop)
        seen = await other.collect("1", 2)

    # then the revoked key's sockets were closed on both processes
    assert (closed_a.code, closed_a.reason) == (4403, "API key revoked")
    assert (closed_b.code, closed_b.reason) == (4403, "API key revoked")
    # and the other key still hears everything
    assert {u["redemption"]["id"] for u in seen} == {redemption}


async def test_revoking_a_key_closes_its_sockets_on_every_api_process(
    db: str, live_settings: Settings
) -> None:
    # given two API processes on one Redis
    async with serving(live_settings) as a, serving(live_settings) as b:
        shop = await open_shop(a)
        await _revoke_and_watch(a, b, shop)


@pytest.mark.skipif(
    not dbsetup.is_postgres(),
    reason="several processes writing one SQLite file collide ('database is locked'); "
    "this runs on PostgreSQL (GAMIFY_TEST_DATABASE_URL)",
)
async def test_revoking_a_key_closes_its_sockets_in_every_gamify_serve_process(
    db: str, settings: Settings, live_settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    # given two `gamify serve` processes and a worker on the test database and Redis
    with claimed_redis_database(redis_url) as own_redis:
        environment = engine_environment(db, own_redis, settings.secret_key, tmp_path / "data")
        async with engine_processes(2, environment) as ((a, b), worker):
            try:
                async with serving(live_settings) as local:
                    shop = await open_shop(local)
                async with _remote(a.url, a.ws_url) as on_a, _remote(b.url, b.ws_url) as on_b:
                    await _revoke_and_watch(on_a, on_b, shop)
            except BaseException:
                print(outputs([a, b, worker]))
                raise


async def test_a_deleted_admin_token_is_refused_over_http(server: LiveServer) -> None:
    # given an admin token whose admin is removed
    shop = await open_shop(server)
    await TenantAdmin.filter(tenant_id=shop.tenant_id).delete()
    # when it asks for the tenant's API keys
    response = await server.http.post(
        "/graphql",
        json={"query": "{ apiKeys { id } }"},
        headers={"Authorization": f"Bearer {shop.admin_token}"},
    )
    # then it is nobody
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"]
    assert errors[0]["message"] == "Unknown admin"
