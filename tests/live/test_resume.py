"""Resuming with `after`: what was missed, exactly once, then live."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from core import clock
from models.live.messages import announce_redemption
from models.redemptions.tables import RedemptionEvent, RedemptionEventKind
from tests.live.client import MY_REDEMPTION_UPDATES, REDEMPTION_UPDATES, SubscriptionClient
from tests.live.conftest import (
    CANCEL,
    COMPLETE,
    LiveServer,
    Shop,
    add_member,
    open_shop,
    redeem,
)

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


async def _ids_after(tenant_id: UUID, cursor: int) -> list[str]:
    events = await RedemptionEvent.filter(tenant_id=tenant_id, id__gt=cursor).order_by("id")
    return [str(e.id) for e in events]


async def _saw_a_redemption_then_left(
    server: LiveServer, shop: Shop, token: str, query: str
) -> tuple[str, str]:
    """A subscriber that saw the member's first redemption (two events), then disconnected:
    the redemption's id and the last eventId it received."""
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {token}") as client:
        await client.subscribe("1", query)
        first = await redeem(server, shop.member_token, shop.reward_id)
        cursor = (await client.collect("1", 2))[-1]["eventId"]
    return first, cursor


async def _five_changes_while_away(server: LiveServer, shop: Shop, first: str) -> tuple[str, str]:
    """Fulfil the first redemption (1 event), redeem twice more (2 events each)."""
    await server.gql(COMPLETE, {"id": first, "status": "FULFILLED"}, shop.api_key)
    second = await redeem(server, shop.member_token, shop.reward_id)
    third = await redeem(server, shop.member_token, shop.reward_id)
    return second, third


async def test_reconnecting_after_the_last_event_gets_exactly_the_missed_ones(
    server: LiveServer,
) -> None:
    # given an admin who saw a redemption's first events, then disconnected
    shop = await open_shop(server, points=1000)
    auth = f"Bearer {shop.admin_token}"
    first, cursor = await _saw_a_redemption_then_left(
        server, shop, shop.admin_token, REDEMPTION_UPDATES
    )
    # and five changes while it was away
    second, third = await _five_changes_while_away(server, shop, first)
    missed = await _ids_after(shop.tenant_id, int(cursor))
    assert len(missed) == 5

    # when it reconnects with `after` = the last eventId it received, then a live change
    async with SubscriptionClient.connected(server.ws_url, auth) as admin:
        await admin.subscribe("1", REDEMPTION_UPDATES, {"after": cursor})
        replayed = await admin.collect("1", 5)
        await server.gql(CANCEL, {"id": second}, shop.admin_token)
        live = await admin.collect("1", 3)

    # then it got exactly the five it missed, in order, then the live ones
    assert [u["eventId"] for u in replayed] == missed
    assert [(u["redemption"]["id"], u["event"]["kind"]) for u in replayed] == [
        (first, "STATUS_CHANGED"),
        (second, "REDEEM_REQUESTED"),
        (second, "POINTS_WITHDRAWN"),
        (third, "REDEEM_REQUESTED"),
        (third, "POINTS_WITHDRAWN"),
    ]
    assert replayed[0]["newStatus"] == "FULFILLED"
    assert [u["eventId"] for u in live] == (await _ids_after(shop.tenant_id, int(cursor)))[5:]
    assert [(u["event"]["kind"], u["newStatus"]) for u in live] == [
        ("STATUS_CHANGED", "FAILED"),
        ("POINTS_REFUNDED", "FAILED"),
        ("STOCK_RETURNED", "FAILED"),
    ]


async def test_member_resumes_its_own_updates_only(server: LiveServer) -> None:
    # given a member who saw its first redemption, then disconnected
    shop = await open_shop(server, points=1000)
    auth = f"Bearer {shop.member_token}"
    first, cursor = await _saw_a_redemption_then_left(
        server, shop, shop.member_token, MY_REDEMPTION_UPDATES
    )
    # and, while away, its five changes and another member's redemption
    _, other_token = await add_member(server, shop, points=500)
    await redeem(server, other_token, shop.reward_id)
    second, third = await _five_changes_while_away(server, shop, first)

    # when it resumes after its cursor
    async with SubscriptionClient.connected(server.ws_url, auth) as member:
        await member.subscribe("1", MY_REDEMPTION_UPDATES, {"after": cursor})
        replayed = await member.collect("1", 5)
        await server.gql(CANCEL, {"id": third}, shop.admin_token)
        live = await member.collect("1", 3)

    # then only its own five, then its live ones
    mine = [
        str(e.id)
        for e in await RedemptionEvent.filter(
            tenant_id=shop.tenant_id, id__gt=int(cursor), redemption__member_id=shop.member_id
        ).order_by("id")
    ]
    assert [u["eventId"] for u in replayed + live] == mine
    assert {u["redemption"]["id"] for u in replayed} == {first, second, third}
    assert {u["redemption"]["id"] for u in live} == {third}


async def test_late_publication_of_already_seen_events_is_not_repeated(
    server: LiveServer,
) -> None:
    # given an admin who resumed after its cursor and got the missed events
    shop = await open_shop(server, points=1000)
    auth = f"Bearer {shop.admin_token}"
    first, cursor = await _saw_a_redemption_then_left(
        server, shop, shop.admin_token, REDEMPTION_UPDATES
    )
    second, _ = await _five_changes_while_away(server, shop, first)
    async with SubscriptionClient.connected(server.ws_url, auth) as admin:
        await admin.subscribe("1", REDEMPTION_UPDATES, {"after": cursor})
        replayed = await admin.collect("1", 5)

        # when a publisher announces those redemptions' events late (as a worker does with
        # everything since its job started), then a new change happens
        for redemption in (first, second):
            await announce_redemption(server.broker, shop.tenant_id, UUID(redemption), LONG_AGO)
        await server.gql(CANCEL, {"id": second}, shop.admin_token)
        following = await admin.collect("1", 3)

    # then nothing it already had (before or after its cursor) comes again
    assert [(u["event"]["kind"], u["newStatus"]) for u in following] == [
        ("STATUS_CHANGED", "FAILED"),
        ("POINTS_REFUNDED", "FAILED"),
        ("STOCK_RETURNED", "FAILED"),
    ]
    assert all(int(u["eventId"]) > int(replayed[-1]["eventId"]) for u in following)


async def test_a_client_away_for_more_than_a_replay_page_misses_nothing(
    server: LiveServer,
) -> None:
    # given a redemption whose admin saw its first events, then 1,050 stored events
    # written while it was away (more than the replay reads at once)
    shop = await open_shop(server, points=1000)
    auth = f"Bearer {shop.admin_token}"
    first, cursor = await _saw_a_redemption_then_left(
        server, shop, shop.admin_token, REDEMPTION_UPDATES
    )
    now = clock.now()
    await RedemptionEvent.bulk_create(
        [
            RedemptionEvent(
                tenant_id=shop.tenant_id,
                redemption_id=UUID(first),
                kind=RedemptionEventKind.DATA_ADDED,
                message=f"note {n}",
                created_at=now,
            )
            for n in range(1050)
        ],
        batch_size=500,
    )
    missed = await _ids_after(shop.tenant_id, int(cursor))

    # when it resumes, then a live change happens
    async with SubscriptionClient.connected(server.ws_url, auth) as admin:
        await admin.subscribe("1", REDEMPTION_UPDATES, {"after": cursor})
        replayed = await admin.collect("1", len(missed), within=60)
        await server.gql(COMPLETE, {"id": first, "status": "FULFILLED"}, shop.api_key)
        (live,) = await admin.collect("1", 1)

    # then every missed event arrived once, in order, before the live one
    assert [u["eventId"] for u in replayed] == missed
    assert live["event"]["kind"] == "STATUS_CHANGED" and live["newStatus"] == "FULFILLED"


async def test_a_replayed_request_says_redeemed_as_the_status_filter_does(
    server: LiveServer,
) -> None:
    # given a redemption that was requested, then fulfilled, while nobody watched
    shop = await open_shop(server, points=1000)
    redemption = await redeem(server, shop.member_token, shop.reward_id)
    await server.gql(COMPLETE, {"id": redemption, "status": "FULFILLED"}, shop.api_key)
    auth = f"Bearer {shop.admin_token}"

    # when the admin replays from the start, everything and only what was REDEEMED
    async with SubscriptionClient.connected(server.ws_url, auth) as admin:
        await admin.subscribe("all", REDEMPTION_UPDATES, {"after": "0"})
        await admin.subscribe(
            "redeemed", REDEMPTION_UPDATES, {"after": "0", "filter": {"status": ["REDEEMED"]}}
        )
        everything = await admin.collect("all", 3)
        (redeemed,) = await admin.collect("redeemed", 1)

    # then the request reads REDEEMED in both, though the redemption is FULFILLED by now
    request = everything[0]
    assert (request["event"]["kind"], request["oldStatus"], request["newStatus"]) == (
        "REDEEM_REQUESTED",
        None,
        "REDEEMED",
    )
    assert request["redemption"]["status"] == "FULFILLED"
    assert redeemed["eventId"] == request["eventId"]
    assert redeemed["newStatus"] == "REDEEMED"
    assert (everything[2]["oldStatus"], everything[2]["newStatus"]) == ("REDEEMED", "FULFILLED")
