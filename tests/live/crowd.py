"""Many subscribers, stalled sockets and floods of updates, for the fan-out tests."""

from __future__ import annotations

import asyncio
import copy
import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from core.broker import redemptions_channel
from models.live.messages import redemption_message
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent
from tests.factories import make_member
from tests.live.client import SubscriptionClient
from tests.live.conftest import LiveServer, Shop

FLOOD_ID = 10**12  # flood event ids, far above the real ones
PAD = "x" * 4096  # flood messages are a few KB, so a stalled socket fills quickly


async def flood_message(shop: Shop) -> dict[str, Any]:
    """A real redemption event of another member, as published, with bulky fulfilment data."""
    member = await make_member(shop.tenant_id, points=1000)
    redemption = await redeem(RedeemRequest(shop.tenant_id, member.id, shop.reward_id))
    stored = await Redemption.get(id=redemption.id)
    event = await RedemptionEvent.filter(redemption_id=redemption.id).order_by("id").first()
    assert event is not None
    message = redemption_message(stored, event)
    message["redemption"]["fulfillment_data"] = {"pad": PAD}
    return message


def numbered(message: dict[str, Any], n: int) -> dict[str, Any]:
    """The flood message as the n-th update (event id FLOOD_ID + n)."""
    copied = copy.deepcopy(message)
    copied["eventId"] = copied["event"]["id"] = FLOOD_ID + n
    return copied


def stalling(server: LiveServer, **options: Any) -> AbstractAsyncContextManager[SubscriptionClient]:
    """An opened connection that stalls as soon as it stops reading: a tiny receive buffer
    and a client that holds one message at the most."""
    return SubscriptionClient.opened(
        server.ws_url, sock=small_receive_buffer_socket(server.url), max_queue=1, **options
    )


async def flood_until_overflowed(
    server: LiveServer, shop: Shop, flood: dict[str, Any], per_round: int, pause: float
) -> int:
    """Publish numbered copies of `flood` on the shop's redemptions channel, `per_round` at a
    time and a `pause` for the subscribers to take what they can, until one of them overflowed
    (how much a stalled socket absorbs first is the kernel's call). Returns how many."""
    channel = redemptions_channel(shop.tenant_id)
    flooded = 0
    async with asyncio.timeout(30):
        while not overflowed(server, shop):
            for _ in range(per_round):
                await server.broker.publish(channel, numbered(flood, flooded))
                flooded += 1
            await asyncio.sleep(pause)
    return flooded


def small_receive_buffer_socket(url: str) -> socket.socket:
    """A connected TCP socket whose receive buffer is tiny, so an unread one stalls soon."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def until(condition: Callable[[], bool], within: float = 10) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the server has no event to wait on
            await asyncio.sleep(0.01)


def overflowed(server: LiveServer, shop: Shop) -> int:
    """The shop's subscribers told to resume because their own buffer overflowed."""
    return sum(
        m.ending is not None and m.ending.code == "SUBSCRIBER_TOO_SLOW"
        for m in server.members(shop.tenant_id)
    )


class Connections:
    """`count` acknowledged connections, closed together on exit."""

    def __init__(self, url: str, authorization: str, count: int, **options: Any) -> None:
        self.url, self.authorization, self.count = url, authorization, count
        self.options = options
        self.clients: list[SubscriptionClient] = []
        self._contexts: list[Any] = []

    async def __aenter__(self) -> list[SubscriptionClient]:
        for _ in range(self.count):
            context = SubscriptionClient.connected(self.url, self.authorization, **self.options)
            self.clients.append(await context.__aenter__())
            self._contexts.append(context)
        return self.clients

    async def __aexit__(self, *exc: object) -> None:
        for context in reversed(self._contexts):
            await context.__aexit__(None, None, None)
