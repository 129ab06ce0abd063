"""Identical subscriptions share one execution per event, and each still gets exactly its own."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from core import clock
from core.broker import redemptions_channel
from core.settings import Settings
from engine.websocket import FrameWritingProtocol
from models.points.tables import PointAccount
from models.redemptions.tables import Redemption, RedemptionEvent, RedemptionEventKind
from tests.factories import make_reward
from tests.live.client import (
    MY_BALANCE,
    MY_REDEMPTION_UPDATES,
    REDEMPTION_UPDATES,
    SubscriptionClient,
    error_codes,
)
from tests.live.conftest import (
    AWARD,
    CANCEL,
    COMPLETE,
    LiveServer,
    Shop,
    add_member,
    open_shop,
    redeem,
    serving,
)
from tests.live.crowd import (
    FLOOD_ID,
    Connections,
    flood_message,
    flood_until_overflowed,
    stalling,
    until,
)

CONNECTIONS_PER_CALLER = 2
OPERATIONS_PER_CONNECTION = 10
REPLAY_PAD = 10_000  # bytes of data per replayed event: 1,000 of them fill any socket buffer


@pytest.fixture(params=["frames", "asgi"])
async def any_server(
    request: pytest.FixtureRequest, db: str, live_settings: Settings
) -> AsyncIterator[LiveServer]:
    """The app served with the protocol that writes shared frames straight to sockets, and
    with uvicorn's stock one, where every frame goes through ASGI."""
    ws = FrameWritingProtocol if request.param == "frames" else "websockets-sansio"
    async with serving(live_settings, ws) as running:
        yield running


def _all_ready(server: LiveServer, shops: list[Shop], count: int) -> Callable[[], bool]:
    """Every one of `count` subscriptions joined a group that listens to Redis."""

    def ready() -> bool:
        members = [m for shop in shops for m in server.members(shop.tenant_id)]
        return len(members) == count and all(m.group.ready.done() for m in members)

    return ready


async def _stored(tenant_id: UUID, after: int = 0) -> list[RedemptionEvent]:
    return await RedemptionEvent.filter(tenant_id=tenant_id, id__gt=after).order_by("id")


@dataclass
class Watch:
    """One subscription of the crowd: which, and what it is owed."""

    client: SubscriptionClient
    id: str
    shop: Shop
    query: str
    variables: dict[str, Any] | None
    owed: Callable[[dict[str, Any]], bool] | None  # for redemption updates: which events
    member: UUID | None = None  # for balances: whose


@dataclass
class Caller:
    shop: Shop
    token: str
    member: UUID | None  # a member token's member
    specs: list[tuple[str, dict[str, Any] | None, Callable[[dict[str, Any]], bool] | None]]


def _callers(shop: Shop, members: list[tuple[UUID, str]], reward2: UUID) -> list[Caller]:
    m1, m2 = str(members[0][0]), str(members[1][0])

    def status(*names: str) -> Callable[[dict[str, Any]], bool]:
        return lambda u: u["newStatus"] in names

    def of(member: str) -> Callable[[dict[str, Any]], bool]:
        return lambda u: u["member"] == member

    everything = lambda _: True  # noqa: E731
    admin = [
        (REDEMPTION_UPDATES, None, everything),
        (REDEMPTION_UPDATES, {"filter": {"status": ["FULFILLED"]}}, status("FULFILLED")),
        (REDEMPTION_UPDATES, {"filter": {"status": ["FAILED", "REDEEMED"]}}, status("FAILED", "REDEEMED")),
        (REDEMPTION_UPDATES, {"filter": {"memberId": m1}}, of(m1)),
        (REDEMPTION_UPDATES, {"filter": {"memberId": m2}}, of(m2)),
        (REDEMPTION_UPDATES, {"filter": {"rewardId": str(reward2)}}, lambda u: u["reward"] == str(reward2)),
    ]  # fmt: skip
    backend = [
        (REDEMPTION_UPDATES, None, everything),
        (REDEMPTION_UPDATES, {"filter": {"memberId": m2}}, of(m2)),
        (REDEMPTION_UPDATES, {"filter": {"status": ["FULFILLED"]}}, status("FULFILLED")),
    ]
    callers = [
        Caller(shop, shop.admin_token, None, admin),
        Caller(shop, shop.api_key, None, backend),
    ]
    for member, token in members:
        mine = [(MY_REDEMPTION_UPDATES, None, of(str(member))), (MY_BALANCE, None, None)]
        callers.append(Caller(shop, token, member, mine))
    return callers


async def _changes(
    server: LiveServer, shop: Shop, members: list[tuple[UUID, str]], reward2: UUID
) -> None:
    """Award, three redemptions (one of the second reward), a fulfilment, a postponement and
    two cancellations, each awaited before the next."""
    (m1, t1), (_, t2), (_, t3) = members
    award = {"memberId": str(m1), "amount": 50, "source": "PURCHASE"}
    await server.gql(AWARD, {"input": award}, shop.api_key)
    first = await redeem(server, t1, shop.reward_id)
    second = await redeem(server, t2, reward2)
    third = await redeem(server, t3, shop.reward_id)
    await server.gql(COMPLETE, {"id": first, "status": "FULFILLED"}, shop.api_key)
    await server.gql(COMPLETE, {"id": third, "status": "POSTPONED"}, shop.api_key)
    await server.gql(CANCEL, {"id": third, "reason": "gone"}, shop.admin_token)
    await server.gql(CANCEL, {"id": second}, shop.admin_token)


async def _markers(
    server: LiveServer, shop: Shop, members: list[tuple[UUID, str]], reward2: UUID
) -> None:
    """One redemption of the second reward per member, the first one's fulfilled."""
    marked = [await redeem(server, token, reward2) for _, token in members]
    await server.gql(COMPLETE, {"id": marked[0], "status": "FULFILLED"}, shop.api_key)


async def test_two_hundred_mixed_subscribers_each_get_exactly_their_own_updates_in_order(
    any_server: LiveServer,
) -> None:
    # given two shops, each with an admin, an API key and three members with 1,000 points,
    # and 200 subscriptions: every caller on two connections of ten subscriptions each,
    # cycling through what it may watch (all, by status, by member, by reward, its own
    # redemptions, its balance); one connection of each compressed (permessage-deflate),
    # some operation ids needing escapes in JSON
    server = any_server
    shops, setups, watches = [], [], []
    for _ in range(2):
        shop = await open_shop(server, points=1000, point_cost=100, stock=None)
        members = [(shop.member_id, shop.member_token)]
        members += [await add_member(server, shop, points=1000) for _ in range(2)]
        reward2 = (await make_reward(shop.tenant_id, point_cost=100, stock=None)).id
        shops.append(shop)
        setups.append((shop, members, reward2))
    callers = [c for shop, members, reward2 in setups for c in _callers(shop, members, reward2)]
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                SubscriptionClient.connected(
                    server.ws_url, f"Bearer {c.token}", compression="deflate" if k else None
                )
            )
            for c in callers
            for k in range(CONNECTIONS_PER_CALLER)
        ]
        for n, client in enumerate(clients):
            caller = callers[n // CONNECTIONS_PER_CALLER]
            for k in range(OPERATIONS_PER_CONNECTION):
                query, variables, owed = caller.specs[k % len(caller.specs)]
                op = f"{n}/{k}" if k % 3 else f'op "{n}-{k}" \\ é'
                await client.subscribe(op, query, variables)
                watches.append(
                    Watch(client, op, caller.shop, query, variables, owed, caller.member)
                )
        await until(_all_ready(server, shops, len(watches)))
        groups = server.graphql.live_groups.groups

        # when the two shops' changes happen, interleaved
        await asyncio.gather(*(_changes(server, *setup) for setup in setups))

        # and then markers every subscription is owed something of (each member redeems
        # the second reward, the first member's is fulfilled): anything extra or of the
        # other shop would arrive before them
        for setup in setups:
            await _markers(server, *setup)

        # then each subscription got exactly the updates it is owed, in order: every
        # stored event for "everything", those of its filter or member for the others,
        # and each member its own balances (nothing of the other shop, nothing twice)
        owed = [await _owed(watch) for watch in watches]
        async with asyncio.timeout(30):
            for n, watch in enumerate(watches):
                operation = watch.client.operations[watch.id]
                while len(operation.results) < len(owed[n]):
                    operation.arrived.clear()
                    await operation.arrived.wait()
        for n, watch in enumerate(watches):
            got = watch.client.received(watch.id)
            keys = [u["eventId"] if watch.owed else (u["accountId"], u["balance"]) for u in got]
            assert keys == owed[n], (watch.id, watch.query, watch.variables)

    # and identical subscriptions shared: one group per caller scope, document and variables
    assert groups == sum(len(c.specs) for c in callers) == 30


# The status an event without one of its own reports: that of its redemption once the
# change that wrote it committed (in these tests, one change at a time).
_STATUS_OF_KIND = {
    "POINTS_WITHDRAWN": "REDEEMED",
    "POINTS_REFUNDED": "FAILED",
    "STOCK_RETURNED": "FAILED",
}


async def _owed(watch: Watch) -> list[Any]:
    """What a subscription must have received, from the stored events and balances."""
    shop = watch.shop
    if watch.owed is None:
        # the first member got 50 and spent 100 (fulfilled); the others spent 100 and got
        # it back (cancelled); then each spent 100 on a marker
        (account,) = await PointAccount.filter(member_id=watch.member)
        if watch.member == shop.member_id:
            return [(str(account.id), b) for b in (1050, 950, 850)]
        return [(str(account.id), b) for b in (900, 1000, 900)]
    redemptions = {r.id: r for r in await Redemption.filter(tenant_id=shop.tenant_id)}
    updates = [
        {
            "eventId": str(e.id),
            "newStatus": e.to_status or _STATUS_OF_KIND[e.kind],
            "member": str(redemptions[e.redemption_id].member_id),
            "reward": str(redemptions[e.redemption_id].reward_id),
        }
        for e in await _stored(shop.tenant_id)
    ]
    return [u["eventId"] for u in updates if watch.owed(u)]


async def test_identical_subscriptions_of_other_tenants_or_members_never_share(
    server: LiveServer,
) -> None:
    # given two shops, and the same documents with the same variables subscribed by:
    # shop A's admin on two connections, shop B's admin, and two members of shop A
    a = await open_shop(server, points=1000)
    b = await open_shop(server, points=1000)
    _, other_token = await add_member(server, a, points=1000)
    async with contextlib.AsyncExitStack() as stack:

        async def watch(token: str, query: str) -> SubscriptionClient:
            client = await stack.enter_async_context(
                SubscriptionClient.connected(server.ws_url, f"Bearer {token}")
            )
            await client.subscribe("1", query)
            return client

        admins_a = [await watch(a.admin_token, REDEMPTION_UPDATES) for _ in range(2)]
        admin_b = await watch(b.admin_token, REDEMPTION_UPDATES)
        member = await watch(a.member_token, MY_REDEMPTION_UPDATES)
        other_member = await watch(other_token, MY_REDEMPTION_UPDATES)
        await until(_all_ready(server, [a, b], 5))

        # when both members of A and the member of B redeem
        mine = await redeem(server, a.member_token, a.reward_id)
        theirs = await redeem(server, other_token, a.reward_id)
        in_b = await redeem(server, b.member_token, b.reward_id)
        seen_by_admins_a = [await c.collect("1", 4) for c in admins_a]
        seen_by_b = await admin_b.collect("1", 2)
        seen_by_member = await member.collect("1", 2)
        seen_by_other = await other_member.collect("1", 2)
        groups = server.graphql.live_groups.groups
        # and then once more each, as markers: anything extra would arrive before them
        markers = [
            await redeem(server, token, reward)
            for token, reward in [
                (a.member_token, a.reward_id),
                (other_token, a.reward_id),
                (b.member_token, b.reward_id),
            ]
        ]
        next_ones = [await c.collect("1", 4) for c in admins_a] + [
            await c.collect("1", 2) for c in (admin_b, member, other_member)
        ]

    # then only A's two admins shared, and everyone saw its own redemptions alone
    assert groups == 4
    for seen in seen_by_admins_a:
        assert [u["redemption"]["id"] for u in seen] == [mine, mine, theirs, theirs]
    assert [u["redemption"]["id"] for u in seen_by_b] == [in_b, in_b]
    assert [u["redemption"]["id"] for u in seen_by_member] == [mine, mine]
    assert [u["redemption"]["id"] for u in seen_by_other] == [theirs, theirs]
    mark_mine, mark_theirs, mark_b = markers
    assert [[u["redemption"]["id"] for u in seen] for seen in next_ones] == [
        [mark_mine, mark_mine, mark_theirs, mark_theirs],
        [mark_mine, mark_mine, mark_theirs, mark_theirs],
        [mark_b, mark_b],
        [mark_mine, mark_mine],
        [mark_theirs, mark_theirs],
    ]


async def test_an_overflowing_member_is_told_to_resume_while_its_group_carries_on(
    any_server: LiveServer,
) -> None:
    # given six admins with the same subscription, sharing one group with a buffer of 20
    # frames each: five read, one never reads its socket
    server = any_server
    server.graphql.live_groups.buffer = 20
    shop = await open_shop(server, points=100_000, point_cost=10, stock=None)
    auth = f"Bearer {shop.admin_token}"
    flood = await flood_message(shop)
    async with (
        stalling(server) as stalled,
        Connections(server.ws_url, auth, 5) as mates,
    ):
        await stalled.init(auth, read=False)
        await stalled.subscribe("all", REDEMPTION_UPDATES)
        for mate in mates:
            await mate.subscribe("all", REDEMPTION_UPDATES)
        await until(_all_ready(server, [shop], 6))
        groups = server.graphql.live_groups.groups

        # when a burst of the tenant's updates comes, until the stalled one's buffer is
        # full (how much its socket absorbs first is the kernel's call), then a redemption
        flooded = await flood_until_overflowed(server, shop, flood, per_round=20, pause=0.02)
        real = await redeem(server, shop.member_token, shop.reward_id)
        seen_by_mates = await asyncio.gather(
            *(m.collect("all", flooded + 2, within=30) for m in mates)
        )
        mates_left = len(server.members(shop.tenant_id)) - 1

        # and the stalled one finally reads
        stalled.start_reading()
        ended = await stalled.ended("all", within=30)
        *delivered, last = stalled.operations["all"].results

    # then the group was one, and every mate got the whole burst and the redemption in order
    assert groups == 1
    stored = [str(e.id) for e in await _stored(shop.tenant_id)]
    burst = [str(FLOOD_ID + n) for n in range(flooded)]
    for seen in seen_by_mates:
        assert [u["eventId"] for u in seen] == burst + stored[-2:]
        assert {u["redemption"]["id"] for u in seen[-2:]} == {real}
    assert mates_left == 5
    # the stalled one got the start of the burst, then SUBSCRIBER_TOO_SLOW naming the last
    # update it was given, and its subscription ended
    ids = [int(r["data"]["redemptionUpdates"]["eventId"]) for r in delivered]
    assert ids == list(range(FLOOD_ID, FLOOD_ID + len(ids)))
    assert len(ids) < flooded
    assert error_codes(last) == ["SUBSCRIBER_TOO_SLOW"]
    assert last["errors"][0]["extensions"]["lastEventId"] == (ids[-1] if ids else None)
    assert ended.completed


async def test_a_resumer_joins_a_live_group_with_no_gap_and_no_duplicate_at_the_seam(
    server: LiveServer,
) -> None:
    # given a first redemption, its last event the cursor a client would hold, and 1,200
    # bulky events stored since (more than a replay page), never announced; stored before
    # anyone watches, as a live stream reads back a committed event it was not told about
    shop = await open_shop(server, points=100_000, point_cost=10, stock=None)
    auth = f"Bearer {shop.admin_token}"
    first = await redeem(server, shop.member_token, shop.reward_id)
    cursor = str((await _stored(shop.tenant_id))[-1].id)
    await RedemptionEvent.bulk_create(
        [
            RedemptionEvent(
                tenant_id=shop.tenant_id,
                redemption_id=UUID(first),
                kind=RedemptionEventKind.DATA_ADDED,
                message=f"note {n}",
                data={"pad": secrets.token_hex(REPLAY_PAD // 2)},  # compresses badly
                created_at=clock.now(),
            )
            for n in range(1200)
        ],
        batch_size=200,
    )
    # and an admin watching live
    async with SubscriptionClient.connected(server.ws_url, auth) as watcher:
        await watcher.subscribe("live", REDEMPTION_UPDATES)
        await until(_all_ready(server, [shop], 1))

        # when another admin, on a compressed connection it does not read yet, subscribes
        # with the same document and `after` = that cursor, so its replay stalls
        async with stalling(server, compression="deflate") as late:
            await late.init(auth, read=False)
            await late.subscribe("resumed", REDEMPTION_UPDATES, {"after": cursor})
            await until(_all_ready(server, [shop], 2))
            groups = server.graphql.live_groups.groups
            # and three redemptions happen while it replays (committed before it reads
            # its second page, announced while its first is still going out)
            during = [await redeem(server, shop.member_token, shop.reward_id) for _ in range(3)]
            await watcher.collect("live", 6)
            (resumer,) = [m for m in server.members(shop.tenant_id) if m.op.id == "resumed"]
            held = (resumer.live, len(resumer.queue))
            # and it reads, and two more redemptions happen once it is live
            late.start_reading()
            await until(lambda: len(late.operations["resumed"].results) >= 1200 + 6, within=60)
            after = [await redeem(server, shop.member_token, shop.reward_id) for _ in range(2)]
            stored = await _stored(shop.tenant_id, int(cursor))
            resumed = await late.collect("resumed", len(stored), within=60)
            live = await watcher.collect("live", 4)
            # and one more, as a marker: anything extra would arrive before it
            marker = await redeem(server, shop.member_token, shop.reward_id)
            next_ones = [await late.collect("resumed", 2), await watcher.collect("live", 2)]

    # then the resumer had joined the live group, which held the three redemptions' six
    # events for it while it replayed
    assert groups == 1
    assert held == (False, 6)
    # and it got every event after its cursor once, in order: the 1,200 and the three
    # redemptions' from the replay, then the two later ones live
    assert [u["eventId"] for u in resumed] == [str(e.id) for e in stored]
    assert len(stored) == 1200 + 6 + 4
    assert [u["redemption"]["id"] for u in resumed[1200:]] == [
        r for r in during + after for _ in range(2)
    ]
    assert [u["redemption"]["id"] for u in live] == [r for r in after for _ in range(2)]
    assert [[u["redemption"]["id"] for u in seen] for seen in next_ones] == [[marker] * 2] * 2


async def test_a_completed_member_gets_nothing_more_and_the_last_one_out_ends_the_group(
    server: LiveServer,
) -> None:
    # given two admins sharing one subscription group
    shop = await open_shop(server, points=1000)
    auth = f"Bearer {shop.admin_token}"
    channel = redemptions_channel(shop.tenant_id)
    async with SubscriptionClient.connected(server.ws_url, auth) as staying:
        async with SubscriptionClient.connected(server.ws_url, auth) as leaving:
            await staying.subscribe("1", REDEMPTION_UPDATES)
            await leaving.subscribe("1", REDEMPTION_UPDATES)
            await until(_all_ready(server, [shop], 2))
            await redeem(server, shop.member_token, shop.reward_id)
            await leaving.collect("1", 2)

            # when one completes its subscription and a redemption follows
            await leaving.complete("1")
            await until(lambda: len(server.members(shop.tenant_id)) == 1)
            later = await redeem(server, shop.member_token, shop.reward_id)
            seen_by_staying = await staying.collect("1", 4)
            groups_while_one_stays = server.graphql.live_groups.groups
            # and, as a marker on the same socket, a new subscription sees a later one
            # (frames of one socket arrive in order: "1"'s would have come first)
            await leaving.subscribe("2", REDEMPTION_UPDATES)
            await until(lambda: len(server.members(shop.tenant_id)) == 2)
            marker = await redeem(server, shop.member_token, shop.reward_id)
            marked = await leaving.collect("2", 2)
            after_complete = leaving.received("1")

        # and the other one disconnects
    await until(lambda: server.graphql.live_groups.groups == 0)
    await until(lambda: channel not in server.broker._subscribers)

    # then the one that stayed got everything; the completed one nothing more; and with
    # the last member gone, the group and its Redis subscription went too
    assert [u["redemption"]["id"] for u in seen_by_staying[2:]] == [later, later]
    assert [u["redemption"]["id"] for u in marked] == [marker, marker]
    assert after_complete == []
    assert groups_while_one_stays == 1


async def test_a_cursor_written_into_the_document_resumes_on_its_own(server: LiveServer) -> None:
    # given an admin who saw a first redemption, then a second one while it was away
    shop = await open_shop(server, points=1000)
    auth = f"Bearer {shop.admin_token}"
    await redeem(server, shop.member_token, shop.reward_id)
    cursor = (await _stored(shop.tenant_id))[-1].id
    second = await redeem(server, shop.member_token, shop.reward_id)

    # when it resumes with the cursor written into the document (the group's own run
    # could not leave it out), and a third redemption follows
    inline = REDEMPTION_UPDATES.replace("after: $after", f'after: "{cursor}"').replace(
        ", $after: ID", ""
    )
    async with SubscriptionClient.connected(server.ws_url, auth) as admin:
        await admin.subscribe("1", inline)
        replayed = await admin.collect("1", 2)
        groups = server.graphql.live_groups.groups
        third = await redeem(server, shop.member_token, shop.reward_id)
        live = await admin.collect("1", 2)

    # then it got what it missed, then the live ones, without a group
    assert [u["redemption"]["id"] for u in replayed + live] == [second] * 2 + [third] * 2
    assert groups == 0
