"""Live redemption updates follow commits, so resuming after the last eventId misses nothing.

Two writers: A writes a redemption event; B, a later redemption, commits and publishes
while A's is not yet known to subscribers. On PostgreSQL A's transaction stays open across
B's commit (A's event id is the smaller, its commit the later: ids do not follow commits).
On SQLite one writer commits at a time, so A commits first, but publishes after B (as a
worker's announcement can come after another process's). Either way a client that saw
B's events, left, and resumed with the last eventId it was given must get A's event.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from tortoise.transactions import in_transaction

from core import clock
from models.live.messages import announce_redemption
from models.redemptions.tables import RedemptionEvent, RedemptionEventKind
from tests.dbsetup import is_postgres
from tests.live.client import MY_REDEMPTION_UPDATES, REDEMPTION_UPDATES, SubscriptionClient
from tests.live.conftest import CANCEL, LiveServer, Shop, open_shop, redeem


@contextlib.asynccontextmanager
async def writer_a(shop: Shop, redemption: str) -> AsyncIterator[RedemptionEvent]:
    """A's event on `redemption`: on PostgreSQL committed when the block ends, on SQLite
    before it starts. Announced by neither: the caller announces it when it chooses."""
    note = {
        "tenant_id": shop.tenant_id,
        "redemption_id": UUID(redemption),
        "kind": RedemptionEventKind.DATA_ADDED,
        "message": "writer A",
        "created_at": clock.now(),
    }
    if is_postgres():
        async with in_transaction() as conn:
            yield await RedemptionEvent.create(**note, using_db=conn)
        return
    async with in_transaction() as conn:
        event = await RedemptionEvent.create(**note, using_db=conn)
    yield event


async def _until_event(
    client: SubscriptionClient, op: str, redemption: str, kind: str
) -> list[dict[str, Any]]:
    """Updates as they come, up to the one of `redemption` of `kind`."""
    updates = []
    while True:
        (update,) = (await client.data(op)).values()
        updates.append(update)
        if update["redemption"]["id"] == redemption and update["event"]["kind"] == kind:
            return updates


@pytest.mark.parametrize("watcher", ["admin", "member"])
async def test_resuming_after_a_later_commit_still_gets_the_earlier_event(
    server: LiveServer, watcher: str
) -> None:
    # given an admin watching the tenant's updates (or the member its own), who saw a
    # first redemption
    shop = await open_shop(server, points=1000)
    token, query = {
        "admin": (shop.admin_token, REDEMPTION_UPDATES),
        "member": (shop.member_token, MY_REDEMPTION_UPDATES),
    }[watcher]
    auth = f"Bearer {token}"
    async with SubscriptionClient.connected(server.ws_url, auth) as client:
        await client.subscribe("1", query)
        first = await redeem(server, shop.member_token, shop.reward_id)
        await _until_event(client, "1", first, "POINTS_WITHDRAWN")

        # when writer A writes an event while writer B redeems (commits and publishes),
        # and the client leaves once it saw B's last event
        async with writer_a(shop, first) as a_event:
            second = await redeem(server, shop.member_token, shop.reward_id)
            before_leaving = await _until_event(client, "1", second, "POINTS_WITHDRAWN")
    cursor = before_leaving[-1]["eventId"]
    await announce_redemption(server.broker, shop.tenant_id, UUID(first), a_event.created_at)

    # and it comes back with `after` = the last eventId it was given; a cancel follows
    async with SubscriptionClient.connected(server.ws_url, auth) as client:
        await client.subscribe("2", query, {"after": cursor})
        await server.gql(CANCEL, {"id": second}, shop.admin_token)
        after_coming_back = await _until_event(client, "2", second, "STOCK_RETURNED")

    # then between its two visits it got every event after the first redemption's once:
    # A's, B's two and the cancel's three
    received = [u["eventId"] for u in before_leaving + after_coming_back]
    stored = await RedemptionEvent.filter(tenant_id=shop.tenant_id).order_by("id")
    expected = [str(e.id) for e in stored if e.redemption_id == UUID(second) or e.id == a_event.id]
    assert Counter(received) == Counter(expected)
    assert str(a_event.id) in received
    assert len(received) == 1 + 2 + 3


async def test_a_live_client_gets_events_in_the_order_they_committed(
    server: LiveServer,
) -> None:
    # given an admin watching the tenant's updates, who saw a first redemption
    shop = await open_shop(server, points=1000)
    auth = f"Bearer {shop.admin_token}"
    async with SubscriptionClient.connected(server.ws_url, auth) as admin:
        await admin.subscribe("1", REDEMPTION_UPDATES)
        first = await redeem(server, shop.member_token, shop.reward_id)
        await _until_event(admin, "1", first, "POINTS_WITHDRAWN")

        # when A's event commits, then B redeems and publishes before A publishes
        async with in_transaction() as conn:
            a_event = await RedemptionEvent.create(
                tenant_id=shop.tenant_id,
                redemption_id=UUID(first),
                kind=RedemptionEventKind.DATA_ADDED,
                message="writer A",
                created_at=clock.now(),
                using_db=conn,
            )
        second = await redeem(server, shop.member_token, shop.reward_id)
        await announce_redemption(server.broker, shop.tenant_id, UUID(first), a_event.created_at)
        seen = await _until_event(admin, "1", second, "POINTS_WITHDRAWN")

    # then it got A's event first, then B's, each once
    b_events = await RedemptionEvent.filter(redemption_id=UUID(second)).order_by("id")
    assert [u["eventId"] for u in seen] == [str(a_event.id)] + [str(e.id) for e in b_events]
