"""A subscriber that stops reading costs the others nothing, and is told to resume."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from graphql import GraphQLError

from core.broker import DEFAULT_BUFFER, Broker
from resolvers.live import _stream
from tests.live.client import REDEMPTION_UPDATES, error_codes
from tests.live.conftest import LiveServer, open_shop
from tests.live.conftest import redeem as redeem_over_http
from tests.live.crowd import (
    FLOOD_ID,
    Connections,
    flood_message,
    flood_until_overflowed,
    overflowed,
    stalling,
    until,
)

WATCHERS = 50
MEASURED_REDEEMS = 5


def _subscribers(server: LiveServer, tenant_id: UUID) -> list[Any]:
    return server.members(tenant_id)


async def test_a_stalled_subscriber_does_not_delay_fifty_others(server: LiveServer) -> None:
    # given 50 admins watching one member's redemptions, each on its own WebSocket,
    # and one admin watching everything on a socket it never reads
    shop = await open_shop(server, points=100_000, point_cost=10, stock=None)
    auth = f"Bearer {shop.admin_token}"
    mine = {"filter": {"memberId": str(shop.member_id)}}
    flood = await flood_message(shop)
    async with (
        stalling(server) as stalled,
        Connections(server.ws_url, auth, WATCHERS) as watchers,
    ):
        await stalled.init(auth, read=False)
        await stalled.subscribe("all", REDEMPTION_UPDATES)
        for watcher in watchers:
            await watcher.subscribe("mine", REDEMPTION_UPDATES, mine)
        await until(lambda: len(_subscribers(server, shop.tenant_id)) == WATCHERS + 1)
        # and a burst of the tenant's updates (of another member), until the stalled
        # subscriber's buffer is full (how much its socket absorbs first is the kernel's call)
        flooded = await flood_until_overflowed(server, shop, flood, per_round=100, pause=0.05)
        overflowed_by_burst = overflowed(server, shop)
        # (a first redemption, untimed, shows every watcher is past the burst)
        await redeem_over_http(server, shop.member_token, shop.reward_id)
        await asyncio.gather(*(w.collect("mine", 2, within=30) for w in watchers))

        # when the member redeems five times, while the stalled subscriber still reads nothing
        for _ in range(MEASURED_REDEEMS):
            await redeem_over_http(server, shop.member_token, shop.reward_id)
        updates = await asyncio.gather(
            *(w.collect("mine", 2 * MEASURED_REDEEMS, within=30) for w in watchers)
        )

        # and the stalled subscriber finally reads its socket
        stalled.start_reading()
        ended = await stalled.ended("all", within=30)
        stalled_results = list(stalled.operations["all"].results)
        await until(lambda: len(_subscribers(server, shop.tenant_id)) == WATCHERS)

    # then the burst overflowed the stalled subscriber alone, and every watcher got the ten
    # updates before it read anything: nothing waited for it (how fast is bench/'s question)
    assert overflowed_by_burst == 1
    assert all(len(u) == 2 * MEASURED_REDEEMS for u in updates)
    # the stalled one got part of the burst, then SUBSCRIBER_TOO_SLOW naming the last
    # update it was given, and none of the later ones; its subscription was removed
    *delivered, last = stalled_results
    assert error_codes(last) == ["SUBSCRIBER_TOO_SLOW"]
    assert delivered, "the stalled subscriber got nothing before its error"
    assert all("errors" not in r for r in delivered)
    ids = [int(r["data"]["redemptionUpdates"]["eventId"]) for r in delivered]
    assert ids == list(range(FLOOD_ID, FLOOD_ID + len(ids)))
    assert len(ids) < flooded - DEFAULT_BUFFER
    assert last["errors"][0]["extensions"]["lastEventId"] == ids[-1]
    assert ended.completed


class _SmallBuffers:
    """The broker, with a tiny buffer per subscriber."""

    def __init__(self, broker: Broker, buffer: int) -> None:
        self.broker, self.buffer = broker, buffer

    def subscribe(self, channel: str) -> Any:
        return self.broker.subscribe(channel, buffer=self.buffer)


async def test_overflow_tells_the_subscriber_where_to_resume(broker: Broker) -> None:
    # given a live stream on a channel with a buffer of two, which took one update
    channel = f"gamify:test-{time.monotonic_ns()}:redemptions"
    info = SimpleNamespace(context=SimpleNamespace(broker=_SmallBuffers(broker, 2)))
    stream = _stream(info, channel, lambda message: True)  # type: ignore[arg-type]
    first = asyncio.ensure_future(anext(stream))
    await until(lambda: channel in broker._subscribers)
    await broker.publish(channel, {"eventId": 7})
    assert (await asyncio.wait_for(first, 10))["eventId"] == 7

    # when three more arrive while it is not reading
    for event_id in (8, 9, 10):
        await broker.publish(channel, {"eventId": event_id})
    await until(lambda: any(s.overflowed for s in broker._subscribers[channel]))

    # then its next read is SUBSCRIBER_TOO_SLOW with the last event it was given,
    # and its Redis subscription goes with it
    with pytest.raises(GraphQLError) as raised:
        await asyncio.wait_for(anext(stream), 10)
    assert raised.value.extensions == {"code": "SUBSCRIBER_TOO_SLOW", "lastEventId": 7}
    await stream.aclose()
    assert channel not in broker._subscribers
