"""Who may subscribe to what: credentials in connection_init, tenant and member isolation."""

from __future__ import annotations

import pytest

from tests.live.client import (
    MY_BALANCE,
    MY_REDEMPTION_UPDATES,
    REDEMPTION_UPDATES,
    SubscriptionClient,
    error_codes,
)
from tests.live.conftest import AWARD, CANCEL, LiveServer, add_member, open_shop, redeem


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="bad-token"),
        pytest.param({"Authorization": "Bearer gk_" + "x" * 40}, id="unknown-api-key"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="not-bearer"),
        pytest.param({"Authorization": 42}, id="not-a-string"),
    ],
)
async def test_connection_without_a_valid_credential_is_closed_with_4403(
    server: LiveServer, payload: dict[str, object]
) -> None:
    # given an open WebSocket
    async with SubscriptionClient.opened(server.ws_url) as client:
        # when connection_init carries no usable credential
        await client.send({"type": "connection_init", "payload": payload})
        closed = await client.refused()
    # then the server closes it with 4403 Forbidden, before any acknowledgement
    assert closed.code == 4403


async def test_subscribing_before_connection_init_is_refused(server: LiveServer) -> None:
    # given an open WebSocket that skipped connection_init
    async with SubscriptionClient.opened(server.ws_url) as client:
        # when it subscribes anyway
        await client.send(
            {"id": "1", "type": "subscribe", "payload": {"query": REDEMPTION_UPDATES}}
        )
        closed = await client.refused()
    # then it is closed as unauthorised (the protocol's 4401)
    assert closed.code == 4401


async def test_ack_names_the_tenant_and_the_kind_of_caller(server: LiveServer) -> None:
    # given a shop
    shop = await open_shop(server)
    # when its admin, its backend and its member connect
    acks = []
    for credential in (shop.admin_token, shop.api_key, shop.member_token):
        async with SubscriptionClient.connected(server.ws_url, f"Bearer {credential}") as client:
            acks.append(client.ack)
    # then each is acknowledged as what it is, in its tenant
    tenant = str(shop.tenant_id)
    assert acks == [
        {"tenantId": tenant, "as": "admin"},
        {"tenantId": tenant, "as": "api_key"},
        {"tenantId": tenant, "as": "member"},
    ]


async def test_member_token_may_not_watch_the_whole_tenant(server: LiveServer) -> None:
    # given a member's connection
    shop = await open_shop(server)
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {shop.member_token}") as client:
        # when it subscribes to every redemption of the tenant
        await client.subscribe("all", REDEMPTION_UPDATES)
        refused = await client.next("all")
        ended = await client.ended("all")
    # then it gets a FORBIDDEN error and the operation ends
    assert error_codes(refused) == ["FORBIDDEN"]
    assert refused.get("data") is None
    assert ended.completed or ended.errors


@pytest.mark.parametrize("credential", ["admin_token", "api_key"])
async def test_backend_credentials_have_no_member_subscriptions(
    server: LiveServer, credential: str
) -> None:
    # given an admin or API key connection
    shop = await open_shop(server)
    token = getattr(shop, credential)
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {token}") as client:
        # when it asks for "my" updates
        await client.subscribe("mine", MY_REDEMPTION_UPDATES)
        await client.subscribe("balance", MY_BALANCE)
        mine = await client.next("mine")
        balance = await client.next("balance")
    # then both are FORBIDDEN: there is no member behind the credential
    assert error_codes(mine) == ["FORBIDDEN"]
    assert error_codes(balance) == ["FORBIDDEN"]


async def test_another_tenant_sees_nothing(server: LiveServer) -> None:
    # given tenant A and tenant B, B's admin and B's API key watching everything they may
    a = await open_shop(server)
    b = await open_shop(server)
    async with (
        SubscriptionClient.connected(server.ws_url, f"Bearer {b.admin_token}") as b_admin,
        SubscriptionClient.connected(server.ws_url, f"Bearer {b.api_key}") as b_backend,
        SubscriptionClient.connected(server.ws_url, f"Bearer {a.admin_token}") as a_admin,
    ):
        await b_admin.subscribe("b", REDEMPTION_UPDATES)
        await b_backend.subscribe("b", REDEMPTION_UPDATES)
        await a_admin.subscribe("a", REDEMPTION_UPDATES)
        # when A's member redeems and A's admin cancels (points and stock move)
        redemption = await redeem(server, a.member_token, a.reward_id)
        await server.gql(CANCEL, {"id": redemption}, a.admin_token)
        a_seen = await a_admin.collect("a", 5)
        # and then, as a marker published after all of A's, B's member redeems
        b_redemption = await redeem(server, b.member_token, b.reward_id)
        b_admin_first = await b_admin.data("b")
        b_backend_first = await b_backend.data("b")

    # then A's admin saw A's redemption; B's subscribers' first update is B's own
    # (one Redis connection carries both channels in order: A's would have come first)
    assert {u["redemption"]["id"] for u in a_seen} == {redemption}
    assert b_admin_first["redemptionUpdates"]["redemption"]["id"] == b_redemption
    assert b_backend_first["redemptionUpdates"]["redemption"]["id"] == b_redemption


async def test_another_member_sees_nothing(server: LiveServer) -> None:
    # given two members of one shop, each watching its redemptions and balance
    shop = await open_shop(server, points=500)
    _, other_token = await add_member(server, shop, points=500)
    async with (
        SubscriptionClient.connected(server.ws_url, f"Bearer {shop.member_token}") as me,
        SubscriptionClient.connected(server.ws_url, f"Bearer {other_token}") as other,
    ):
        for client in (me, other):
            await client.subscribe("mine", MY_REDEMPTION_UPDATES)
            await client.subscribe("balance", MY_BALANCE)
        # when the first member redeems, is cancelled (refund), and is awarded points
        mine = await redeem(server, shop.member_token, shop.reward_id)
        await server.gql(CANCEL, {"id": mine}, shop.admin_token)
        award = {"memberId": str(shop.member_id), "amount": 7, "source": "PURCHASE"}
        await server.gql(AWARD, {"input": award}, shop.api_key)
        my_updates = await me.collect("mine", 5)
        my_balances = await me.collect("balance", 3)
        # and then, as a marker, the other member redeems
        theirs = await redeem(server, other_token, shop.reward_id)
        other_first = await other.data("mine")
        other_balance = await other.data("balance")

    # then the first member saw its own; the other's first updates are its own
    assert {u["redemption"]["id"] for u in my_updates} == {mine}
    assert [b["balance"] for b in my_balances] == [400, 500, 507]
    assert other_first["myRedemptionUpdates"]["redemption"]["id"] == theirs
    assert other_balance["myBalanceChanged"]["balance"] == 400
