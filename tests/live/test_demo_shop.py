"""`gamify demo-shop`: a shop backend that mints member tokens with its own API key, and a
page on its own origin whose widget may use them."""

from __future__ import annotations

import httpx

from engine.bootstrap import DEMO_MEMBER_ID, bootstrap_demo
from engine.demo_shop import ShopConfig, open_demo_shop, shop_app
from models.tenancy.origins import tenant_origins
from models.tenancy.tables import ApiKey, Tenant
from tests.live.conftest import LiveServer

SHOP_ORIGIN = "http://127.0.0.1:8001"


async def test_shop_backend_mints_a_token_its_page_may_use(server: LiveServer) -> None:
    # given the embedded default's demo tenant, and the demo shop opened twice (restarted)
    await bootstrap_demo()
    first_key = await open_demo_shop([SHOP_ORIGIN])
    key = await open_demo_shop([SHOP_ORIGIN])
    shop = shop_app(ShopConfig(server.url, key))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=shop), base_url=SHOP_ORIGIN
    ) as browser:
        # when the shop's page asks its backend for a member token
        page = await browser.get("/")
        minted = (await browser.post("/member-token")).json()
    # and uses it from the shop's origin, as the widget does
    async with httpx.AsyncClient(base_url=server.url) as widget:
        me = await widget.post(
            "/graphql",
            json={"query": "{ me { externalUserId } }"},
            headers={"Authorization": f"Bearer {minted['token']}", "Origin": SHOP_ORIGIN},
        )

    # then the page embeds the widget, and the token works from the shop's own origin
    assert page.status_code == 200 and "gamify-rewards" in page.text
    assert minted["endpoint"] == f"{server.url}/graphql" and minted["expiresAt"]
    assert me.json() == {"data": {"me": {"externalUserId": DEMO_MEMBER_ID}}}
    assert me.headers["access-control-allow-origin"] == SHOP_ORIGIN
    # and the shop's origin is allowed once, with only the newest shop key still valid
    tenant = await Tenant.get(slug="demo")
    assert (await tenant_origins(tenant.id)).count(SHOP_ORIGIN) == 1
    keys = await ApiKey.filter(tenant_id=tenant.id, name="Demo shop").order_by("created_at")
    assert [k.revoked_at is None for k in keys] == [False, True]
    assert first_key != key
