"""Poison deliveries: a URL httpx cannot send to is refused when saved, and whatever makes
an attempt fail (data stored before today's checks) is a recorded failure that runs its
retry schedule to DEAD, never a delivery left PENDING and sent again forever."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from tortoise.transactions import in_transaction

from core import clock
from core.settings import Settings
from models.webhooks.endpoints import create_endpoint
from models.webhooks.outbox import RETRY_SCHEDULE, add_deliveries
from models.webhooks.tables import (
    DeliveryStatus,
    PayloadFormat,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.factories import make_tenant
from tests.graphql_client import GraphQLClient, TenantSession
from workers.webhooks import deliver

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
BAD_URLS = [
    "https://8.8.8.8/hooks\r\nX-Injected: 1",
    "https://8.8.8.8/ho\noks",
    "https://8.8.8.8/hooks\x7f",
    "https://8.8.8.8/a b",
    "http://[::1/hooks",
]
CREATE = """
mutation($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } errors { field code message } }
}"""
UPDATE = """
mutation($id: ID!, $input: WebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $input) { endpoint { url } errors { field code } }
}"""
POINT_MASTER = """
mutation($input: PointMasterSettingsInput!) {
  setPointMasterSettings(input: $input) { errors { field code message } }
}"""


def _errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    return [(e["field"], e["code"]) for e in payload["errors"]]


@pytest.mark.parametrize("url", BAD_URLS)
async def test_urls_httpx_cannot_send_to_are_refused_when_saved(
    gql: GraphQLClient, tenant: TenantSession, url: str
) -> None:
    # given a tenant with a good endpoint
    created = await gql(CREATE, {"input": {"url": "https://8.8.8.8/hooks"}}, tenant.admin_token)
    endpoint_id = created["data"]["createWebhookEndpoint"]["endpoint"]["id"]

    # when an admin saves a URL with a control character or a space, in every place a URL goes
    token = tenant.admin_token
    create = await gql(CREATE, {"input": {"url": url}}, token)
    update = await gql(UPDATE, {"id": endpoint_id, "input": {"url": url}}, token)
    adjustment = await gql(POINT_MASTER, {"input": {"adjustmentUrl": url}}, token)
    points_log = await gql(POINT_MASTER, {"input": {"pointsLogUrl": url + "/{contactId}"}}, token)

    # then each is refused with a code, and nothing was saved
    assert _errors(create) == [("url", "INVALID_URL")]
    assert _errors(update) == [("url", "INVALID_URL")]
    assert _errors(adjustment) == [("adjustmentUrl", "INVALID_URL")]
    assert _errors(points_log) == [("pointsLogUrl", "INVALID_URL")]
    urls = await WebhookEndpoint.filter(tenant_id=UUID(tenant.tenant_id)).values_list(
        "url", flat=True
    )
    assert urls == ["https://8.8.8.8/hooks"]


async def test_a_url_longer_than_storage_is_refused_with_a_code(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given / when an admin saves a 3,000-character URL
    url = "https://8.8.8.8/" + "a" * 3000
    body = await gql(CREATE, {"input": {"url": url}}, tenant.admin_token)

    # then it is refused with a code, not an unexpected error
    assert _errors(body) == [("url", "INVALID_URL")]


async def _poisoned_delivery(**stored: str) -> UUID:
    """A delivery whose endpoint holds `stored` values written before the checks existed."""
    t = await make_tenant()
    endpoint = await create_endpoint(
        t.tenant.id, "http://127.0.0.1:9/hooks", ["reward_redeemed"], PayloadFormat.GAMIFY,
        allow_private=True,
    )  # fmt: skip
    await WebhookEndpoint.filter(id=endpoint.endpoint.id).update(**stored)
    async with in_transaction() as conn:
        (delivery_id,) = await add_deliveries(
            conn, t.tenant.id, "reward_redeemed", lambda _f: {"event": "reward_redeemed"}
        )
    return delivery_id


@pytest.mark.parametrize(
    "stored",
    [
        {"url": "http://127.0.0.1:9/hooks\r\nX-Injected: 1"},
        {"secret": "whsec_this is not base64!"},
    ],
    ids=["url-with-crlf", "corrupt-secret"],
)
async def test_a_delivery_that_cannot_be_sent_runs_its_schedule_to_dead(
    db: str, settings: Settings, stored: dict[str, str]
) -> None:
    # given a delivery whose endpoint was stored with a value no request can be made from
    hook_settings = settings.__class__(**{**settings.__dict__, "webhook_allow_private": True})
    delivery_id = await _poisoned_delivery(**stored)

    # when the worker attempts it each time it falls due
    outcomes = []
    with clock.frozen_at(START):
        async with httpx.AsyncClient() as client:
            for _ in range(len(RETRY_SCHEDULE) + 2):
                row = await WebhookDelivery.get(id=delivery_id)
                if row.status != DeliveryStatus.PENDING:
                    break
                if row.next_attempt_at is not None and row.next_attempt_at > clock.now():
                    clock.advance(row.next_attempt_at - clock.now())
                status, _ = await deliver(delivery_id, hook_settings, client)
                outcomes.append(status)

    # then every attempt was recorded as a failure with its reason, and the delivery is DEAD
    delivery = await WebhookDelivery.get(id=delivery_id)
    attempts = await WebhookAttempt.filter(delivery_id=delivery_id).order_by("id")
    assert delivery.status == DeliveryStatus.DEAD
    assert outcomes[-1] == DeliveryStatus.DEAD
    assert set(outcomes[:-1]) <= {DeliveryStatus.PENDING}
    assert delivery.attempt_count == len(attempts) == len(outcomes)
    assert all(a.status_code is None and a.error for a in attempts)
    assert delivery.last_error
