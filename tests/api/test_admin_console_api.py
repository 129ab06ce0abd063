"""What the admin console reads and does beyond the backend API: member search, the
dashboard's counts, webhook health, sync batches, and an admin's own password."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from core import clock
from models.pointmaster.tables import SyncBatch, SyncKind, SyncStatus
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionStatus
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import DeliveryStatus, PayloadFormat, WebhookDelivery, WebhookEvent
from tests.factories import PASSWORD, make_member, make_reward
from tests.graphql_client import LOGIN, GraphQLClient, TenantSession

SEARCH = """query($s: String, $first: Int, $after: String) {
  members(search: $s, first: $first, after: $after) {
    nodes { externalUserId email name } pageInfo { hasNextPage endCursor } } }"""
COUNTS = "query($since: DateTime) { redemptionCounts(since: $since) { status count } }"
HEALTH = "{ webhookHealth { endpoint { url } delivered retrying pending dead } }"
BATCHES = """query($status: [SyncBatchStatus!]) {
  syncBatches(status: $status) { nodes { id status itemCount } pageInfo { hasNextPage } } }"""
CHANGE = """mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n) { changed errors { field code message } } }"""


def _ext_ids(body: dict[str, Any]) -> list[str]:
    assert "errors" not in body, body
    return [m["externalUserId"] for m in body["data"]["members"]["nodes"]]


async def test_members_are_found_by_external_id_email_or_name(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given three members of the tenant
    tid = uuid.UUID(tenant.tenant_id)
    ann = await make_member(tid, email="ann.lee@shop.test", name="Ann Lee")
    bob = await make_member(tid, email="bob@shop.test", name="Bob Annandale")
    await make_member(tid, email="carl@shop.test", name="Carl")

    # when staff search by part of a name, of an email (any case) and by external id
    by_name = await gql(SEARCH, {"s": "ann"}, tenant.admin_token)
    by_email = await gql(SEARCH, {"s": "BOB@SHOP"}, tenant.admin_token)
    by_ext = await gql(SEARCH, {"s": ann.external_user_id}, tenant.admin_token)

    # then each finds who matches, newest first
    assert _ext_ids(by_name) == [bob.external_user_id, ann.external_user_id]
    assert _ext_ids(by_email) == [bob.external_user_id]
    assert _ext_ids(by_ext) == [ann.external_user_id]


async def test_member_search_is_paginated(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given three members named alike
    tid = uuid.UUID(tenant.tenant_id)
    made = [await make_member(tid, name=f"Dana {n}") for n in range(3)]

    # when the results are read two at a time
    first = await gql(SEARCH, {"s": "dana", "first": 2}, tenant.admin_token)
    cursor = first["data"]["members"]["pageInfo"]["endCursor"]
    second = await gql(SEARCH, {"s": "dana", "first": 2, "after": cursor}, tenant.admin_token)

    # then the two pages hold all three, once each
    assert first["data"]["members"]["pageInfo"]["hasNextPage"] is True
    assert second["data"]["members"]["pageInfo"]["hasNextPage"] is False
    found = _ext_ids(first) + _ext_ids(second)
    assert found == [m.external_user_id for m in reversed(made)]


async def test_an_overlong_search_is_refused_with_a_code(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # when
    body = await gql(SEARCH, {"s": "x" * 201}, tenant.admin_token)
    # then
    assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "search"}


async def test_redemptions_since_a_time_are_counted_by_status(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given three redemptions today: one postponed, two still redeemed; one from yesterday
    tid = uuid.UUID(tenant.tenant_id)
    member = await make_member(tid, points=1000)
    reward = await make_reward(tid, point_cost=10)
    made = [
        await redeem(RedeemRequest(tenant_id=tid, member_id=member.id, reward_id=reward.id))
        for _ in range(4)
    ]
    await transition(tid, made[0].id, RedemptionStatus.POSTPONED, Via.CALLBACK, actor="test")
    yesterday = clock.now() - timedelta(days=1, hours=1)
    await Redemption.filter(id=made[3].id).update(created_at=yesterday)
    since = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)

    # when
    body = await gql(COUNTS, {"since": since.isoformat()}, tenant.admin_token)

    # then
    counts = {c["status"]: c["count"] for c in body["data"]["redemptionCounts"]}
    assert counts == {
        "REDEEMED": 2,
        "POSTPONED": 1,
        "RECOVERABLE_FAILURE": 0,
        "FULFILLED": 0,
        "FAILED": 0,
    }


async def test_webhook_health_counts_each_endpoints_deliveries_of_the_last_day(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given two endpoints; the first has one delivered, one retrying, one dead, one
    # not tried yet, and a dead one older than a day
    tid = uuid.UUID(tenant.tenant_id)
    events = [WebhookEvent.REWARD_REDEEMED.value]
    hooks = [
        await create_endpoint(tid, url, events, PayloadFormat.GAMIFY, allow_private=True)
        for url in ("http://127.0.0.1:9/one", "http://127.0.0.1:9/two")
    ]
    now = clock.now()

    async def delivery(status: DeliveryStatus, attempts: int, age: timedelta) -> None:
        await WebhookDelivery.create(
            tenant_id=tid,
            endpoint_id=hooks[0].endpoint.id,
            event=events[0],
            payload={},
            status=status,
            attempt_count=attempts,
            created_at=now - age,
        )

    await delivery(DeliveryStatus.DELIVERED, 1, timedelta(hours=1))
    await delivery(DeliveryStatus.PENDING, 2, timedelta(hours=2))
    await delivery(DeliveryStatus.DEAD, 8, timedelta(hours=3))
    await delivery(DeliveryStatus.PENDING, 0, timedelta(minutes=1))
    await delivery(DeliveryStatus.DEAD, 8, timedelta(hours=30))

    # when
    body = await gql(HEALTH, token=tenant.admin_token)

    # then
    assert body["data"]["webhookHealth"] == [
        {
            "endpoint": {"url": "http://127.0.0.1:9/one"},
            "delivered": 1,
            "retrying": 1,
            "pending": 1,
            "dead": 1,
        },
        {
            "endpoint": {"url": "http://127.0.0.1:9/two"},
            "delivered": 0,
            "retrying": 0,
            "pending": 0,
            "dead": 0,
        },
    ]


async def test_sync_batches_are_listed_and_filtered_by_status(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a pending and a completed batch
    tid = uuid.UUID(tenant.tenant_id)
    now = clock.now()
    pending, done = [
        await SyncBatch.create(
            tenant_id=tid,
            kind=SyncKind.BALANCES,
            status=status,
            items=[],
            item_count=n,
            created_at=now + timedelta(seconds=n),
            updated_at=now,
        )
        for n, status in enumerate([SyncStatus.PENDING, SyncStatus.COMPLETED])
    ]

    # when
    every = await gql(BATCHES, token=tenant.admin_token)
    waiting = await gql(BATCHES, {"status": ["PENDING", "PROCESSING"]}, tenant.admin_token)

    # then
    assert [b["id"] for b in every["data"]["syncBatches"]["nodes"]] == [
        str(done.id),
        str(pending.id),
    ]
    assert waiting["data"]["syncBatches"]["nodes"] == [
        {"id": str(pending.id), "status": "PENDING", "itemCount": 0}
    ]


async def test_the_dashboard_is_for_admins_only(gql: GraphQLClient, tenant: TenantSession) -> None:
    # when an API key asks
    body = await gql(
        "{ redemptionCounts { count } syncBatches { nodes { id } } }", token=tenant.api_key
    )
    # then
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


async def _login(gql: GraphQLClient, email: str, password: str) -> list[str]:
    body = await gql(LOGIN, {"e": email, "p": password})
    return [e["code"] for e in body["data"]["login"]["errors"]]


async def test_an_admin_changes_its_own_password(gql: GraphQLClient, tenant: TenantSession) -> None:
    # when
    body = await gql(CHANGE, {"c": PASSWORD, "n": "a-brand-new-secret"}, tenant.admin_token)
    # then the new password logs in and the old one no longer does
    assert body["data"]["changePassword"] == {"changed": True, "errors": []}
    assert await _login(gql, tenant.admin_email, "a-brand-new-secret") == []
    assert await _login(gql, tenant.admin_email, PASSWORD) == ["INVALID_CREDENTIALS"]


async def test_a_wrong_current_or_short_new_password_changes_nothing(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # when
    wrong = await gql(
        CHANGE, {"c": "not-my-password", "n": "a-brand-new-secret"}, tenant.admin_token
    )
    short = await gql(CHANGE, {"c": PASSWORD, "n": "short"}, tenant.admin_token)
    same = await gql(CHANGE, {"c": PASSWORD, "n": PASSWORD}, tenant.admin_token)

    # then each says what is wrong, next to which field
    def error(body: dict[str, Any]) -> tuple[bool, str, str]:
        payload = body["data"]["changePassword"]
        return payload["changed"], payload["errors"][0]["field"], payload["errors"][0]["code"]

    assert error(wrong) == (False, "currentPassword", "INVALID_CREDENTIALS")
    assert error(short) == (False, "newPassword", "PASSWORD_TOO_SHORT")
    assert error(same) == (False, "newPassword", "INVALID")
    # and the old password still logs in
    assert await _login(gql, tenant.admin_email, PASSWORD) == []
