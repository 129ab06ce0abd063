"""Subscribers watching a redemption's lifecycle over a real WebSocket, served by uvicorn."""

from __future__ import annotations

from uuid import UUID

from models.redemptions.tables import RedemptionEvent
from tests.live.client import (
    MY_BALANCE,
    MY_REDEMPTION_UPDATES,
    REDEMPTION_UPDATES,
    SubscriptionClient,
)
from tests.live.conftest import AWARD, CANCEL, COMPLETE, LiveServer, open_shop, redeem

ADMIN, MINE, BALANCE, FAILED_ONLY = "admin", "mine", "balance", "failed-only"


async def _stored_events(tenant_id: UUID) -> list[RedemptionEvent]:
    return await RedemptionEvent.filter(tenant_id=tenant_id).order_by("id")


async def test_admin_and_member_watch_redeem_callback_and_cancel(server: LiveServer) -> None:
    # given a shop (reward of 100 points, member with 400) and three live subscribers:
    # the admin (all updates, and only FAILED ones), the member (its redemptions, its balance)
    shop = await open_shop(server, points=400, point_cost=100, stock=10)
    async with (
        SubscriptionClient.connected(server.ws_url, f"Bearer {shop.admin_token}") as admin,
        SubscriptionClient.connected(server.ws_url, f"Bearer {shop.member_token}") as member,
    ):
        await admin.subscribe(ADMIN, REDEMPTION_UPDATES)
        await admin.subscribe(FAILED_ONLY, REDEMPTION_UPDATES, {"filter": {"status": ["FAILED"]}})
        await member.subscribe(MINE, MY_REDEMPTION_UPDATES)
        await member.subscribe(BALANCE, MY_BALANCE)
        # the backend awards points: the balance moves first
        award = {"memberId": str(shop.member_id), "amount": 100, "source": "PURCHASE"}
        await server.gql(AWARD, {"input": award}, shop.api_key)
        assert [b["balance"] for b in await member.collect(BALANCE, 1)] == [500]

        # when the member redeems, and the fulfilment backend reports it fulfilled over REST
        first = await redeem(server, shop.member_token, shop.reward_id)
        callback = await server.http.post(
            f"/api/v1/redemptions/{first}/callback",
            json={"status": "fulfilled", "data": {"code": "VC-1"}},
            headers={"Authorization": f"Bearer {shop.api_key}"},
        )
        assert callback.status_code == 200, callback.text
        # and the backend redeems again for the member, postpones it over GraphQL,
        # and the admin cancels it
        second = await redeem(server, shop.api_key, shop.reward_id, shop.member_id)
        await server.gql(COMPLETE, {"id": second, "status": "POSTPONED"}, shop.api_key)
        await server.gql(CANCEL, {"id": second, "reason": "out of stock"}, shop.admin_token)

        stored = await _stored_events(shop.tenant_id)
        seen_by_admin = await admin.collect(ADMIN, len(stored))
        seen_by_member = await member.collect(MINE, len(stored))
        failed_only = await admin.collect(FAILED_ONLY, 3)
        balances = await member.collect(BALANCE, 3)

    # then the admin saw every stored event once, in order, each with its transition
    assert [u["eventId"] for u in seen_by_admin] == [str(e.id) for e in stored]
    timeline = [
        (u["redemption"]["id"], u["event"]["kind"], u["oldStatus"], u["newStatus"])
        for u in seen_by_admin
    ]
    assert timeline == [
        (first, "REDEEM_REQUESTED", None, "REDEEMED"),
        (first, "POINTS_WITHDRAWN", None, "REDEEMED"),
        (first, "STATUS_CHANGED", "REDEEMED", "FULFILLED"),
        (second, "REDEEM_REQUESTED", None, "REDEEMED"),
        (second, "POINTS_WITHDRAWN", None, "REDEEMED"),
        (second, "STATUS_CHANGED", "REDEEMED", "POSTPONED"),
        (second, "STATUS_CHANGED", "POSTPONED", "FAILED"),
        (second, "POINTS_REFUNDED", None, "FAILED"),
        (second, "STOCK_RETURNED", None, "FAILED"),
    ]
    fulfilled = seen_by_admin[2]
    assert fulfilled["redemption"]["fulfillmentData"] == {"code": "VC-1"}
    assert fulfilled["event"]["actor"].startswith("api_key:")
    assert seen_by_admin[6]["event"]["actor"].startswith("admin:")
    # the member saw the same, being the one who redeemed both
    assert [u["eventId"] for u in seen_by_member] == [u["eventId"] for u in seen_by_admin]
    assert [u["redemption"]["id"] for u in seen_by_member] == [first] * 3 + [second] * 6
    # the filtered subscription saw only the cancellation and its refund
    assert [(u["event"]["kind"], u["newStatus"]) for u in failed_only] == [
        ("STATUS_CHANGED", "FAILED"),
        ("POINTS_REFUNDED", "FAILED"),
        ("STOCK_RETURNED", "FAILED"),
    ]
    # the balance after each redeem, then after the refund
    assert [b["balance"] for b in balances] == [400, 300, 400]
