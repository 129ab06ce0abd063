"""Bad input over the WebSocket is refused as over HTTP: text the database cannot store in a
subscription's variables is a coded error, and the connection keeps working."""

from __future__ import annotations

import pytest

from tests.live.client import REDEMPTION_UPDATES, SubscriptionClient, error_codes
from tests.live.conftest import LiveServer, open_shop


@pytest.mark.parametrize("bad", ["1\u00002", "1\ud8002"], ids=["NUL", "lone surrogate"])
async def test_unstorable_text_in_subscription_variables_is_a_coded_error(
    server: LiveServer, bad: str
) -> None:
    # given an admin's connection
    shop = await open_shop(server)
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {shop.admin_token}") as client:
        # when it subscribes with the text as `after`
        await client.subscribe("bad", REDEMPTION_UPDATES, {"after": bad})
        refused = await client.next("bad")
        # then the operation is refused with a code naming the variable
        assert error_codes(refused) == ["INVALID_STRING"]
        assert refused["errors"][0]["extensions"]["field"] == "after"
        assert refused.get("data") is None
        # and the same connection still serves a good subscription
        await client.subscribe("good", REDEMPTION_UPDATES, {"after": None})
        await client.subscribe("bad-again", REDEMPTION_UPDATES, {"after": bad})
        assert error_codes(await client.next("bad-again")) == ["INVALID_STRING"]
        assert client.closed is None
