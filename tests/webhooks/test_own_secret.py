"""A tenant's own signing secret (seed spec 000: shared with the tenant's other platforms)
instead of a generated one, on create and on rotation."""

from __future__ import annotations

import base64
import secrets
import time

import httpx
import pytest

from core.settings import Settings
from models.webhooks.tables import WebhookEndpoint
from tests.graphql_client import GraphQLClient, TenantSession
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import _setup_delivery_for, gamify_valid, standard_valid
from workers.webhooks import deliver

OWN = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
CREATE = """mutation($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } secret errors { field code } } }"""
ROTATE = """mutation($id: ID!, $secret: String) {
  rotateWebhookSecret(id: $id, overlapSeconds: 0, secret: $secret) { secret errors { field code } } }"""
UPDATE = """mutation($id: ID!, $input: WebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $input) { endpoint { id } errors { field code } } }"""


async def test_deliveries_are_signed_with_the_tenants_own_secret(
    gql: GraphQLClient,
    tenant: TenantSession,
    receiver: Receiver,
    hook_settings: Settings,
    http: httpx.AsyncClient,
) -> None:
    # given an endpoint created with the tenant's own secret (a deployment allowing 127.0.0.1)
    from models.webhooks.endpoints import create_endpoint
    from models.webhooks.tables import PayloadFormat

    created = await create_endpoint(
        tenant.tenant_id,  # type: ignore[arg-type]
        receiver.url + "/hooks",
        ["reward_redeemed"],
        PayloadFormat.GAMIFY,
        allow_private=True,
        secret=OWN,
    )
    _, delivery_id = await _setup_delivery_for(created.endpoint)
    # when a delivery is sent
    await deliver(delivery_id, hook_settings, http)
    # then both signatures check with that secret, as the receiver already knows it
    (received,) = receiver.received
    assert created.secret == OWN
    assert gamify_valid(OWN, received) and standard_valid(OWN, received, int(time.time()))


@pytest.mark.parametrize(
    "secret",
    ["not-a-secret", "whsec_" + base64.b64encode(b"short").decode(), "whsec_!!!notbase64!!!"],
)
async def test_a_secret_not_of_the_standard_form_is_refused(
    gql: GraphQLClient, tenant: TenantSession, secret: str
) -> None:
    # when the admin gives a secret that is not whsec_ + base64 of 24-64 bytes
    body = await gql(
        CREATE, {"input": {"url": "https://8.8.8.8/h", "secret": secret}}, tenant.admin_token
    )
    # then the endpoint is not created, and the field is named
    answer = body["data"]["createWebhookEndpoint"]
    assert answer["endpoint"] is None and answer["secret"] is None
    assert answer["errors"] == [{"field": "secret", "code": "INVALID_SECRET"}]
    listed = await gql("{ webhookEndpoints { id } }", token=tenant.admin_token)
    assert listed["data"]["webhookEndpoints"] == []


async def test_rotation_to_the_tenants_own_secret_and_update_points_there(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given an endpoint with a generated secret
    created = await gql(CREATE, {"input": {"url": "https://8.8.8.8/h"}}, tenant.admin_token)
    endpoint_id = created["data"]["createWebhookEndpoint"]["endpoint"]["id"]
    # when the admin rotates to its own secret, and tries to set one through an update
    rotated = await gql(ROTATE, {"id": endpoint_id, "secret": OWN}, tenant.admin_token)
    updated = await gql(UPDATE, {"id": endpoint_id, "input": {"secret": OWN}}, tenant.admin_token)
    # then the rotation takes it; the update says where secrets change
    assert rotated["data"]["rotateWebhookSecret"] == {"secret": OWN, "errors": []}
    assert (await WebhookEndpoint.get(id=endpoint_id)).secret == OWN
    assert updated["data"]["updateWebhookEndpoint"]["errors"] == [
        {"field": "secret", "code": "INVALID_SECRET"}
    ]
