"""The rewards widget in a real Chromium, on a shop's page of another origin, against a real
engine process."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from core.settings import Settings
from tests.browser.conftest import EngineProcess, Site, js, open_shop

pytestmark = pytest.mark.browser


async def test_client_modules_talk_to_the_engine_from_another_origin(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page
) -> None:
    # given a shop whose page is on an allowed origin, and a member with points
    shop = await open_shop(settings, [shop_site.origin], points=250)
    await page.goto(f"{shop_site.origin}/blank")
    # when the page imports the client from the engine and asks over HTTP and WebSocket
    answer = await page.evaluate(
        """async ([engine, token]) => {
            const { GraphQLClient } = await import(engine + "/client/graphql.js");
            const { LiveClient } = await import(engine + "/client/live.js");
            const http = new GraphQLClient({ endpoint: engine + "/graphql", token });
            const me = await http.request("{ me { accounts { balance } } }");
            const live = new LiveClient({ url: engine.replace("http", "ws") + "/graphql", token });
            const opened = await new Promise((resolve) => {
              live.addEventListener("status", (e) => e.detail === "open" && resolve(true));
              live.subscribe("subscription { myBalanceChanged { balance } }", {}, {});
            });
            live.close();
            return { balance: me.me.accounts[0].balance, opened };
        }""",
        [engine.url, shop.token()],
    )
    # then both answer
    assert answer == {"balance": 250, "opened": True}
    assert js(1) == "1"
