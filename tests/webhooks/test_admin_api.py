"""The webhook admin API over GraphQL: endpoints, secrets shown once, the SSRF guard, the
delivery log, pings, dead deliveries and their replay, and tenant isolation."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from tortoise.transactions import in_transaction

from core import clock
from core.settings import Settings
from models.webhooks.outbox import add_deliveries
from tests.factories import make_member, make_reward
from tests.graphql_client import GraphQLClient, TenantSession, in_process
from tests.webhooks.receiver import Answer, Receiver
from workers.webhooks import deliver

CREATE = """
mutation($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    endpoint { id url events payloadFormat enabled disabledReason }
    secret
    errors { field code message }
  }
}"""
UPDATE = """
mutation($id: ID!, $input: WebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $input) {
    endpoint { id url enabled disabledReason } errors { field code }
  }
}"""
ENDPOINTS = """
{ webhookEndpoints {
    id url events payloadFormat enabled disabledReason failingSince
    previousSecretValidUntil createdAt
} }"""
DELIVERY_FIELDS = """
  id endpointId event redemptionId payload status attemptCount lastStatusCode
  attempts { statusCode error }
"""
DELIVERIES = f"""
query($filter: WebhookDeliveryFilter) {{
  webhookDeliveries(filter: $filter) {{ nodes {{ {DELIVERY_FIELDS} }} }}
}}"""
PING = f"""
mutation($id: ID!) {{
  pingWebhookEndpoint(id: $id) {{ deliveries {{ {DELIVERY_FIELDS} }} errors {{ field code }} }}
}}"""
REPLAY = f"""
mutation($id: ID!) {{
  replayDelivery(id: $id) {{ deliveries {{ {DELIVERY_FIELDS} }} errors {{ field code }} }}
}}"""
REPLAY_SINCE = f"""
mutation($endpointId: ID!, $since: DateTime!) {{
  replayDeliveries(endpointId: $endpointId, since: $since) {{
    deliveries {{ {DELIVERY_FIELDS} }} errors {{ field code }}
  }}
}}"""
REDEEM = """
mutation($rewardId: ID!, $memberId: ID!) {
  redeemReward(rewardId: $rewardId, memberId: $memberId) {
    redemption { id status } errors { code message }
  }
}"""


@pytest.fixture
async def gql(db: str, settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The API as deployed by default: webhooks to private addresses are refused."""
    assert settings.webhook_allow_private is False
    async with in_process(settings) as client:
        yield client


@pytest.fixture
async def gql_private(db: str, settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The API of a deployment that allows private targets (tests, local development)."""
    async with in_process(replace(settings, webhook_allow_private=True)) as client:
        yield client


@pytest.fixture
async def receiver_endpoint(
    gql_private: GraphQLClient, tenant: TenantSession, receiver: Receiver
) -> dict[str, Any]:
    """An endpoint of `tenant` on the receiver (so through the API that allows private targets)."""
    return (await _create_endpoint(gql_private, tenant, receiver.url + "/hooks"))["endpoint"]


async def _create_endpoint(
    gql: GraphQLClient, t: TenantSession, url: str, **fields: Any
) -> dict[str, Any]:
    body = await gql(CREATE, {"input": {"url": url, **fields}}, t.admin_token)
    assert "errors" not in body, body
    created: dict[str, Any] = body["data"]["createWebhookEndpoint"]
    return created


async def _deliveries(gql: GraphQLClient, t: TenantSession, **filter: str) -> list[dict[str, Any]]:
    body = await gql(DELIVERIES, {"filter": filter or None}, t.admin_token)
    assert "errors" not in body, body
    nodes: list[dict[str, Any]] = body["data"]["webhookDeliveries"]["nodes"]
    return nodes


async def test_the_secret_is_shown_once_on_create(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given / when an admin creates an endpoint on a public address
    created = await _create_endpoint(gql, tenant, "https://8.8.8.8/hooks")

    # then the answer carries the secret: whsec_ and at least 24 random bytes in base64
    assert created["errors"] == []
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
    endpoint = created["endpoint"]
    assert endpoint["events"] == ["redemption.created"] and endpoint["payloadFormat"] == "GAMIFY"
    # and the list never shows it: no field carries it, and none is named for it
    listed = await gql(ENDPOINTS, token=tenant.admin_token)
    assert [e["id"] for e in listed["data"]["webhookEndpoints"]] == [endpoint["id"]]
    assert secret not in json.dumps(listed)
    asked = await gql("{ webhookEndpoints { id secret } }", token=tenant.admin_token)
    assert asked.get("data") is None and "secret" in asked["errors"][0]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://localhost/hooks",
    ],
)
async def test_private_targets_are_refused_by_default(
    gql: GraphQLClient, tenant: TenantSession, url: str
) -> None:
    # given the default settings (private targets not allowed) and a saved public endpoint
    public = await _create_endpoint(gql, tenant, "https://8.8.8.8/hooks")

    # when an admin creates or moves an endpoint to a private address
    created = await gql(CREATE, {"input": {"url": url}}, tenant.admin_token)
    moved = await gql(
        UPDATE, {"id": public["endpoint"]["id"], "input": {"url": url}}, tenant.admin_token
    )

    # then both are refused as BLOCKED_ADDRESS on the url, and nothing points there
    payload = created["data"]["createWebhookEndpoint"]
    assert payload["endpoint"] is None and payload["secret"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("url", "BLOCKED_ADDRESS")]
    update = moved["data"]["updateWebhookEndpoint"]
    assert [(e["field"], e["code"]) for e in update["errors"]] == [("url", "BLOCKED_ADDRESS")]
    listed = await gql(ENDPOINTS, token=tenant.admin_token)
    assert [e["url"] for e in listed["data"]["webhookEndpoints"]] == ["https://8.8.8.8/hooks"]


async def test_a_redeem_over_graphql_creates_a_delivery_that_is_sent(
    gql_private: GraphQLClient,
    tenant: TenantSession,
    receiver: Receiver,
    receiver_endpoint: dict[str, Any],
    hook_settings: Settings,
    http: httpx.AsyncClient,
) -> None:
    # given an endpoint on the receiver, a reward and a member who can afford it
    gql, endpoint = gql_private, receiver_endpoint
    tenant_id = UUID(tenant.tenant_id)
    reward = await make_reward(tenant_id, point_cost=100)
    member = await make_member(tenant_id, points=100)

    # when the tenant backend redeems for the member
    body = await gql(
        REDEEM, {"rewardId": str(reward.id), "memberId": str(member.id)}, tenant.api_key
    )
    redemption_id = body["data"]["redeemReward"]["redemption"]["id"]

    # then the delivery log holds one pending redemption.created delivery for it
    (delivery,) = await _deliveries(gql, tenant, redemptionId=redemption_id)
    assert delivery["endpointId"] == endpoint["id"] and delivery["event"] == "redemption.created"
    assert delivery["status"] == "PENDING" and delivery["attempts"] == []
    assert delivery["payload"]["redemption_id"] == redemption_id
    # and a worker's attempt sends it under its id, and the log shows the 200
    status, _ = await deliver(UUID(delivery["id"]), hook_settings, http)
    assert status == "DELIVERED"
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery["id"]]
    assert json.loads(receiver.received[0].body) == delivery["payload"]
    (after,) = await _deliveries(gql, tenant, redemptionId=redemption_id)
    assert after["status"] == "DELIVERED" and after["attempts"] == [
        {"statusCode": 200, "error": None}
    ]


async def test_ping_creates_a_ping_delivery(
    gql_private: GraphQLClient,
    tenant: TenantSession,
    receiver: Receiver,
    receiver_endpoint: dict[str, Any],
    hook_settings: Settings,
    http: httpx.AsyncClient,
) -> None:
    # given an endpoint that subscribed to redemption events only
    gql, endpoint = gql_private, receiver_endpoint

    # when the admin pings it
    body = await gql(PING, {"id": endpoint["id"]}, tenant.admin_token)

    # then one ping delivery is in the log, for that endpoint, and it is sent
    payload = body["data"]["pingWebhookEndpoint"]
    assert payload["errors"] == []
    (ping,) = payload["deliveries"]
    assert (ping["event"], ping["endpointId"], ping["status"]) == (
        "ping",
        endpoint["id"],
        "PENDING",
    )
    assert ping["payload"]["event"] == "ping" and ping["redemptionId"] is None
    assert [d["id"] for d in await _deliveries(gql, tenant, endpointId=endpoint["id"])] == [
        ping["id"]
    ]
    status, _ = await deliver(UUID(ping["id"]), hook_settings, http)
    assert status == "DELIVERED"
    assert json.loads(receiver.received[0].body)["event"] == "ping"


async def _outbox_row(tenant_id: UUID, n: int) -> UUID:
    async with in_transaction() as conn:
        (delivery_id,) = await add_deliveries(
            conn, tenant_id, "reward_redeemed", lambda _f: {"event": "reward_redeemed", "n": n}
        )
    return delivery_id


async def test_dead_deliveries_are_listed_replayed_and_delivered_by_their_tenant_only(
    gql_private: GraphQLClient,
    tenant: TenantSession,
    other_tenant: TenantSession,
    receiver: Receiver,
    receiver_endpoint: dict[str, Any],
    hook_settings: Settings,
    http: httpx.AsyncClient,
) -> None:
    # given three deliveries (one from two days ago) killed by a receiver that answered 410
    gql, endpoint = gql_private, receiver_endpoint
    tenant_id = UUID(tenant.tenant_id)
    with clock.frozen_at(clock.now() - timedelta(days=2)):
        old = await _outbox_row(tenant_id, 0)
    first, second = await _outbox_row(tenant_id, 1), await _outbox_row(tenant_id, 2)
    receiver.answer(Answer(410))
    for delivery_id in (first, second, old):
        await deliver(delivery_id, hook_settings, http)
    since = (clock.now() - timedelta(days=1)).isoformat()

    # then the endpoint shows why it was disabled, and the dead deliveries are listed
    (listed,) = (await gql(ENDPOINTS, token=tenant.admin_token))["data"]["webhookEndpoints"]
    assert listed["enabled"] is False and "410" in listed["disabledReason"]
    dead = await _deliveries(gql, tenant, status="DEAD")
    assert {d["id"] for d in dead} == {str(old), str(first), str(second)}
    assert await _deliveries(gql, tenant, status="PENDING") == []
    by_id = {d["id"]: d for d in dead}
    assert by_id[str(first)]["attempts"] == [{"statusCode": 410, "error": None}]

    # when another tenant's admin looks for them and tries to replay them
    theirs = await _deliveries(gql, other_tenant)
    by_endpoint = await _deliveries(gql, other_tenant, endpointId=endpoint["id"])
    replay_one = await gql(REPLAY, {"id": str(first)}, other_tenant.admin_token)
    replay_since = await gql(
        REPLAY_SINCE, {"endpointId": endpoint["id"], "since": since}, other_tenant.admin_token
    )

    # then it sees nothing and is told they do not exist; nothing moved
    assert theirs == [] and by_endpoint == []
    assert replay_one["data"]["replayDelivery"] == {
        "deliveries": [],
        "errors": [{"field": "id", "code": "NOT_FOUND"}],
    }
    assert replay_since["data"]["replayDeliveries"] == {
        "deliveries": [],
        "errors": [{"field": "endpointId", "code": "NOT_FOUND"}],
    }
    assert len(await _deliveries(gql, tenant, status="DEAD")) == 3

    # when the tenant's admin re-enables the endpoint, replays one delivery, then all
    # dead ones since yesterday
    enabled = await gql(
        UPDATE, {"id": endpoint["id"], "input": {"enabled": True}}, tenant.admin_token
    )
    replayed_one = await gql(REPLAY, {"id": str(first)}, tenant.admin_token)
    replayed_since = await gql(
        REPLAY_SINCE, {"endpointId": endpoint["id"], "since": since}, tenant.admin_token
    )

    # then the endpoint is enabled again, and the replayed deliveries are pending anew:
    # the old one is left dead, the one replayed already is not replayed twice
    assert enabled["data"]["updateWebhookEndpoint"]["endpoint"]["disabledReason"] is None
    (one,) = replayed_one["data"]["replayDelivery"]["deliveries"]
    assert (one["id"], one["status"], one["attemptCount"]) == (str(first), "PENDING", 0)
    since_payload = replayed_since["data"]["replayDeliveries"]
    assert since_payload["errors"] == []
    assert [(d["id"], d["status"]) for d in since_payload["deliveries"]] == [
        (str(second), "PENDING")
    ]
    # and a worker delivers both, under their original ids
    for delivery_id in (first, second):
        assert (await deliver(delivery_id, hook_settings, http))[0] == "DELIVERED"
    assert [r.headers["webhook-id"] for r in receiver.received] == [
        str(first),
        str(first),
        str(second),
    ]
    after = {d["id"]: d for d in await _deliveries(gql, tenant)}
    assert after[str(old)]["status"] == "DEAD"
    assert after[str(first)]["status"] == "DELIVERED"
    assert [a["statusCode"] for a in after[str(first)]["attempts"]] == [410, 200]
    assert after[str(second)]["attempts"] == [{"statusCode": 200, "error": None}]
