"""WebSockets from browser pages: the same origin lists as HTTP, checked in connection_init
against the credential's tenant."""

from __future__ import annotations

from models.tenancy.origins import set_tenant_origins
from tests.live.client import SubscriptionClient
from tests.live.conftest import LiveServer, open_shop

SHOP = "https://shop.example"


async def test_member_socket_from_its_tenants_origin_is_acknowledged(server: LiveServer) -> None:
    # given a shop whose tenant lists the shop's origin
    shop = await open_shop(server)
    await set_tenant_origins(shop.tenant_id, [SHOP])
    # when the shop's page opens the live connection with the member's token
    async with SubscriptionClient.opened(server.ws_url, origin=SHOP) as client:
        ack = await client.init(f"Bearer {shop.member_token}")
    # then it is acknowledged
    assert ack["type"] == "connection_ack"


async def test_member_socket_from_another_origin_is_closed_with_4403(server: LiveServer) -> None:
    # given a shop whose tenant lists only its own origin
    shop = await open_shop(server)
    await set_tenant_origins(shop.tenant_id, [SHOP])
    # when a page on another site opens a socket with the member's token
    async with SubscriptionClient.opened(server.ws_url, origin="https://evil.example") as client:
        await client.send(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {shop.member_token}"}}
        )
        closed = await client.refused()
    # then it is refused before any acknowledgement
    assert closed.code == 4403


async def test_socket_from_the_engines_own_pages_needs_no_list(server: LiveServer) -> None:
    # given a shop with no allowed origins, and the admin console served by the engine
    shop = await open_shop(server)
    # when the console (same origin as the engine) opens the live connection
    async with SubscriptionClient.opened(server.ws_url, origin=server.url) as client:
        ack = await client.init(f"Bearer {shop.admin_token}")
    # then it is acknowledged
    assert ack["type"] == "connection_ack"
