"""The webhook event catalogue: each event fires once for its trigger, with its body, through
the same outbox (signing, retries, replay) as a redemption's."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from tortoise.log import db_client_logger

from core import clock
from core.settings import Settings
from models.db.transactions import atomic
from models.members.upserts import upsert_member
from models.points.announcements import warn_expiring
from models.points.awards import AwardRequest, award_points
from models.points.grants import settle_due
from models.points.ledger import post_entry
from models.points.tables import LedgerSource, PointAccount
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import RedemptionStatus
from models.webhooks.endpoints import create_endpoint, set_expiring_soon_days
from models.webhooks.outbox import replay
from models.webhooks.tables import DeliveryStatus, PayloadFormat, WebhookDelivery, WebhookEvent
from tests.factories import default_definition, make_member, make_reward, make_tenant, make_tier
from tests.graphql_client import GraphQLClient, TenantSession
from tests.webhooks.receiver import Answer, Receiver
from tests.webhooks.test_delivery import gamify_valid, standard_valid
from workers.webhooks import deliver

FIXTURES = Path(__file__).parents[1] / "fixtures"
START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ALL = [e.value for e in WebhookEvent]


async def _subscribed(
    tenant_id: UUID, events: list[str], fmt: PayloadFormat = PayloadFormat.GAMIFY, url: str = ""
) -> Any:
    return await create_endpoint(
        tenant_id, url or "https://8.8.8.8/hooks", events, fmt, allow_private=True
    )


async def _bodies(event: str) -> list[dict[str, Any]]:
    rows = await WebhookDelivery.filter(event=event).order_by("created_at")
    return [row.payload for row in rows]


def _award(tenant_id: UUID, member_id: UUID, amount: int, **extra: Any) -> AwardRequest:
    extra.setdefault("source", LedgerSource.PURCHASE)
    return AwardRequest(
        tenant_id=tenant_id, member_id=member_id, definition_id=None, amount=amount, **extra
    )


async def test_each_points_posting_fires_its_event_once_with_its_body(db: str) -> None:
    with clock.frozen_at(START):
        # given an endpoint that wants every points event
        t = await make_tenant()
        tid = t.tenant.id
        points = [e for e in ALL if e.startswith("points.") and e != "points.expiring_soon"]
        await _subscribed(tid, points, PayloadFormat.XTREMEPUSH)
        member = await make_member(tid)
        reward = await make_reward(tid, point_cost=30)
        # when the member earns, spends, is refunded, adjusted, and points expire
        await award_points(_award(tid, member.id, 100, description="order 1"))
        redemption = await redeem(RedeemRequest(tid, member.id, reward.id))
        await transition(tid, redemption.id, RedemptionStatus.FAILED, Via.CALLBACK, actor="shop")
        await award_points(_award(tid, member.id, -5, source=LedgerSource.ADJUSTMENT))
        await award_points(_award(tid, member.id, 40, valid_to=START + timedelta(days=1)))
        clock.advance(timedelta(days=2))
        await settle_due()
    # then each fired once, in the GAMIFY shape (no other platform defines them)
    # (the clock is frozen: both were written at one moment, so order them by balance)
    earned = sorted(await _bodies("points.earned"), key=lambda b: b["balance_before"])
    assert [(b["amount"], b["balance_before"], b["balance_after"]) for b in earned] == [
        (100, 0, 100),
        (40, 95, 135),
    ]
    assert earned[0] == {
        "event": "points.earned",
        "entry_id": earned[0]["entry_id"],
        "user_id": str(member.id),
        "external_user_id": member.external_user_id,
        "definition_id": str((await default_definition(tid)).id),
        "amount": 100,
        "balance_before": 0,
        "balance_after": 100,
        "source": "PURCHASE",
        "description": "order 1",
        "valid_to": None,
        "redemption_id": None,
        "timestamp": "2026-11-22T10:00:00Z",
    }
    (spent,) = await _bodies("points.spent")
    assert (spent["amount"], spent["source"], spent["redemption_id"]) == (
        -30,
        "REDEMPTION",
        str(redemption.id),
    )
    (refunded,) = await _bodies("points.refunded")
    assert (refunded["amount"], refunded["balance_after"]) == (30, 100)
    (adjusted,) = await _bodies("points.adjusted")
    assert (adjusted["amount"], adjusted["source"]) == (-5, "ADJUSTMENT")
    (expired,) = await _bodies("points.expired")
    assert (expired["amount"], expired["balance_after"], expired["source"]) == (-40, 95, "EXPIRY")
    assert expired["timestamp"] == "2026-11-24T10:00:00Z"
    assert await WebhookDelivery.filter(event__in=["redemption.created"]).count() == 0


async def test_reward_redeemed_is_an_alias_that_keeps_its_body(db: str) -> None:
    # given one endpoint subscribed with the seed spec's name, one with the new one
    t = await make_tenant()
    tid = t.tenant.id
    old = await _subscribed(tid, ["reward_redeemed"])
    new = await _subscribed(tid, ["redemption.created"])
    member = await make_member(tid, points=100)
    reward = await make_reward(tid, point_cost=10, fulfillment_data={"sku": "S-1"})
    # when the member redeems
    redemption = await redeem(RedeemRequest(tid, member.id, reward.id))
    # then both get the same delivery of `redemption.created`, its body the seed spec's
    assert old.endpoint.events == new.endpoint.events == ["redemption.created"]
    rows = await WebhookDelivery.filter(redemption_id=redemption.id).order_by("endpoint_id")
    assert {r.endpoint_id for r in rows} == {old.endpoint.id, new.endpoint.id}
    assert {r.event for r in rows} == {"redemption.created"}
    fixture = json.loads((FIXTURES / "gamify_reward_redeemed.json").read_text())
    for row in rows:
        assert row.payload["event"] == "reward_redeemed"
        assert sorted(row.payload) == sorted(fixture)  # (PostgreSQL JSONB keeps no order)


async def _data(gql: GraphQLClient, tenant: TenantSession, query: str, variables: Any) -> Any:
    body = await gql(query, variables, tenant.admin_token)
    assert "errors" not in body, body
    return body["data"]


async def test_graphql_subscribes_by_enum_or_name_and_refuses_unknown(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    create = """mutation($i: WebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
        endpoint { events eventTypes } errors { field code } } }"""
    by_enum = await _data(
        gql,
        tenant,
        create,
        {"i": {"url": "https://8.8.8.8/a", "eventTypes": ["POINTS_EARNED", "REWARD_LOW_STOCK"]}},
    )
    assert by_enum["createWebhookEndpoint"]["endpoint"] == {
        "events": ["points.earned", "reward.low_stock"],
        "eventTypes": ["POINTS_EARNED", "REWARD_LOW_STOCK"],
    }
    by_name = await _data(
        gql, tenant, create, {"i": {"url": "https://8.8.8.8/b", "events": ["reward_redeemed"]}}
    )
    assert by_name["createWebhookEndpoint"]["endpoint"] == {
        "events": ["redemption.created"],
        "eventTypes": ["REDEMPTION_CREATED"],
    }
    unknown = await _data(
        gql, tenant, create, {"i": {"url": "https://8.8.8.8/c", "events": ["points.stolen"]}}
    )
    assert unknown["createWebhookEndpoint"]["errors"] == [{"field": "events", "code": "INVALID"}]


async def test_redemption_status_changed_fires_once(db: str) -> None:
    t = await make_tenant()
    await _subscribed(t.tenant.id, ["redemption.status_changed"], PayloadFormat.TOOLZZ)
    member = await make_member(t.tenant.id, points=100)
    reward = await make_reward(t.tenant.id, point_cost=10)
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    await transition(
        t.tenant.id, redemption.id, RedemptionStatus.FULFILLED, Via.CALLBACK, actor="shop"
    )
    (body,) = await _bodies("redemption.status_changed")
    assert (body["old_status"], body["new_status"]) == ("REDEEMED", "FULFILLED")


async def test_tier_change_by_upsert_fires_once(db: str) -> None:
    t = await make_tenant()
    tid = t.tenant.id
    await _subscribed(tid, ["member.tier_changed"])
    silver, gold = await make_tier(tid, "silver", 1), await make_tier(tid, "gold", 2)
    member, _ = await upsert_member(tid, "m-1", tier_id=silver.id)
    # when the backend upserts the member with another tier, then with the same again
    await upsert_member(tid, "m-1", tier_id=gold.id)
    await upsert_member(tid, "m-1", tier_id=gold.id, name="Ana")
    # then: once on creation (from no tier), once for the change, none for no change
    bodies = await _bodies("member.tier_changed")
    assert [(b["old_tier"], b["new_tier"]["name"]) for b in bodies[:1]] == [(None, "silver")]
    assert len(bodies) == 2
    assert bodies[1] == {
        "event": "member.tier_changed",
        "user_id": str(member.id),
        "external_user_id": "m-1",
        "old_tier": {"id": str(silver.id), "name": "silver", "rank": 1},
        "new_tier": {"id": str(gold.id), "name": "gold", "rank": 2},
        "timestamp": bodies[1]["timestamp"],
    }


async def test_low_stock_fires_once_when_the_stock_falls_below_the_threshold(db: str) -> None:
    t = await make_tenant()
    tid = t.tenant.id
    await _subscribed(tid, ["reward.low_stock"])
    reward = await make_reward(tid, point_cost=1, stock=5, low_stock_threshold=3)
    member = await make_member(tid, points=100)
    # when four redemptions take the stock 5 -> 1
    with clock.frozen_at(START):
        for _ in range(4):
            await redeem(RedeemRequest(tid, member.id, reward.id))
    # then one event, when it went from 3 to 2
    assert await _bodies("reward.low_stock") == [
        {
            "event": "reward.low_stock",
            "reward_id": str(reward.id),
            "remaining": 2,
            "threshold": 3,
            "source": "stock",
            "timestamp": "2026-11-22T10:00:00Z",
        }
    ]


async def test_expiring_soon_is_sent_once_per_grant_within_the_tenants_days(db: str) -> None:
    with clock.frozen_at(START):
        t = await make_tenant()
        tid = t.tenant.id
        await _subscribed(tid, ["points.expiring_soon"])
        member = await make_member(tid)
        soon = await award_points(_award(tid, member.id, 30, valid_to=START + timedelta(days=3)))
        await award_points(_award(tid, member.id, 50, valid_to=START + timedelta(days=10)))
        # when the points cron runs twice
        assert await warn_expiring() == 1
        assert await warn_expiring() == 0
        # then the grant expiring within 7 days (the default) is announced once
        assert soon.grant is not None
        assert await _bodies("points.expiring_soon") == [
            {
                "event": "points.expiring_soon",
                "grant_id": str(soon.grant.id),
                "user_id": str(member.id),
                "external_user_id": member.external_user_id,
                "definition_id": str(soon.account.definition_id),
                "amount": 30,
                "expires_at": "2026-11-25T10:00:00Z",
                "timestamp": "2026-11-22T10:00:00Z",
            }
        ]
        # when the tenant widens its window to 14 days, the other grant's turn comes
        await set_expiring_soon_days(tid, 14)
        assert await warn_expiring() == 1
        assert sorted(b["amount"] for b in await _bodies("points.expiring_soon")) == [30, 50]


async def test_a_tenant_without_subscribers_pays_one_query_and_builds_nothing(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given a tenant whose only endpoint wants status changes
    t = await make_tenant()
    tid = t.tenant.id
    await _subscribed(tid, ["redemption.status_changed"])
    member = await make_member(tid)
    await award_points(_award(tid, member.id, 10))
    account = await PointAccount.get(member_id=member.id)
    # when a posting is made, with the statements it runs logged
    with caplog.at_level(logging.DEBUG, logger=db_client_logger.name):
        async with atomic() as tx:
            await post_entry(tx, account, 5, LedgerSource.PURCHASE)
    statements = [r.getMessage() for r in caplog.records if r.name == db_client_logger.name]
    # then no delivery, one read of the endpoints and no read of the member (no body built)
    assert await WebhookDelivery.all().count() == 0
    assert sum('"webhook_endpoint"' in s for s in statements) == 1, statements
    assert not any('FROM "member"' in s for s in statements), statements


async def test_a_new_event_is_signed_retried_and_replayed(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given a points.earned delivery whose receiver fails once, then accepts
    receiver.answer(Answer(500))
    clock.advance(timedelta(0))
    t = await make_tenant()
    endpoint = await _subscribed(t.tenant.id, ["points.earned"], url=receiver.url + "/hooks")
    member = await make_member(t.tenant.id)
    await award_points(_award(t.tenant.id, member.id, 10))
    (delivery,) = await WebhookDelivery.filter(event="points.earned")
    # when it is sent, retried, then replayed after delivery
    assert (await deliver(delivery.id, hook_settings, http))[0] == DeliveryStatus.PENDING
    clock.advance(timedelta(seconds=10))  # the first retry is due after 5 s (±20 %)
    assert (await deliver(delivery.id, hook_settings, http))[0] == DeliveryStatus.DELIVERED
    replayed = await replay(t.tenant.id, delivery.id)
    assert replayed.status == DeliveryStatus.PENDING
    assert (await deliver(delivery.id, hook_settings, http))[0] == DeliveryStatus.DELIVERED
    # then the receiver got it three times under one webhook-id, each signed
    got = receiver.received
    assert len(got) == 3 and {r.headers["webhook-id"] for r in got} == {str(delivery.id)}
    now = int(clock.now().timestamp())
    assert all(gamify_valid(endpoint.secret, r) for r in got)
    assert all(standard_valid(endpoint.secret, r, now) for r in got)
    assert json.loads(got[-1].body)["event"] == "points.earned"


async def test_endpoint_disabled_is_told_once_to_the_other_subscribers(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    receiver.default = Answer(503)
    with clock.frozen_at(START):
        # given a failing endpoint, and two others of which one wants endpoint.disabled
        t = await make_tenant()
        tid = t.tenant.id
        failing = await _subscribed(
            tid, ["points.earned", "endpoint.disabled"], url=receiver.url + "/hooks"
        )
        told = await _subscribed(tid, ["endpoint.disabled"])
        await _subscribed(tid, ["points.earned"], url="https://8.8.8.9/hooks")
        member = await make_member(tid)
        await award_points(_award(tid, member.id, 1))
        first = await WebhookDelivery.get(event="points.earned", endpoint_id=failing.endpoint.id)
        await deliver(first.id, hook_settings, http)
        # when it still fails after the tenant's tolerance, and its retries keep coming
        clock.advance(timedelta(hours=hook_settings.webhook_disable_after_hours + 1))
        await award_points(_award(tid, member.id, 1))
        for delivery in await WebhookDelivery.filter(endpoint_id=failing.endpoint.id):
            await deliver(delivery.id, hook_settings, http)
    # then it is disabled, and only the other subscriber is told, once
    rows = await WebhookDelivery.filter(event="endpoint.disabled")
    assert [r.endpoint_id for r in rows] == [told.endpoint.id]
    assert rows[0].payload == {
        "event": "endpoint.disabled",
        "endpoint_id": str(failing.endpoint.id),
        "url": receiver.url + "/hooks",
        "reason": "Failing since 2026-11-22T10:00:00+00:00",
        "timestamp": rows[0].payload["timestamp"],
    }
