"""Tenant B probing webhook endpoints and deliveries of tenant A."""

from __future__ import annotations

import pytest

from tests.api.isolation.probes import (
    ADMIN,
    DELIVERY_KEYS,
    NOT_FOUND_PAYLOAD,
    Probe,
    _each,
    expect_empty,
    expect_new_endpoint_of_b,
    expect_no_endpoint_health,
    expect_no_error,
    expect_payload_not_found,
    probe_test,
)
from tests.api.isolation.world import ALPHA_EXPIRING_SOON_DAYS

pytestmark = pytest.mark.module_world


def expect_settings_of_b(body: dict, ids: dict) -> None:
    """B's own settings: the default or what B set, never A's."""
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    settings = payload["settings"] if "settings" in payload else payload
    assert settings["pointsExpiringSoonDays"] != ALPHA_EXPIRING_SOON_DAYS, body


PROBES: list[Probe] = [
    Probe(
        "webhookEndpoints",
        "list",
        "{ webhookEndpoints { id url events } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "webhookDeliveries",
        "list",
        "{ webhookDeliveries { nodes { id endpointId redemptionId payload status } } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "webhookDeliveries",
        "foreign-endpoint-and-redemption",
        "query($e: ID, $r: ID) {"
        " byEndpoint: webhookDeliveries(filter: {endpointId: $e}) { nodes { id payload } }"
        " byRedemption: webhookDeliveries(filter: {redemptionId: $r}) { nodes { id payload } } }",
        lambda ids: {"e": ids["a_endpoint"], "r": ids["a_redemption_REDEEMED"]},
        ADMIN,
        expect_empty,
    ),
    Probe(
        "createWebhookEndpoint",
        "own-tenant-only",
        'mutation { createWebhookEndpoint(input: {url: "https://8.8.8.8/beta-hook"})'
        " { endpoint { id url } secret errors { code field } } }",
        lambda ids: {},
        ADMIN,
        expect_new_endpoint_of_b,
        same_as_ghost=False,
    ),
    Probe(
        "updateWebhookEndpoint",
        "foreign-endpoint",
        "mutation($e: ID!) { updateWebhookEndpoint(id: $e, input: {enabled: false,"
        f' events: ["reward_redeemed"], payloadFormat: TOOLZZ}}) {{ endpoint {{ id }} secret {NOT_FOUND_PAYLOAD} }} }}',
        lambda ids: {"e": ids["a_endpoint"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "deleteWebhookEndpoint",
        "foreign-endpoint",
        *_each("deleteWebhookEndpoint", "id", ["a_endpoint"], "deleted"),
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "rotateWebhookSecret",
        "foreign-endpoint",
        *_each("rotateWebhookSecret", "id", ["a_endpoint"], "endpoint { id } secret"),
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "pingWebhookEndpoint",
        "foreign-endpoint",
        *_each("pingWebhookEndpoint", "id", ["a_endpoint"], "deliveries { id payload }"),
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "replayDelivery",
        "every-status",
        *_each("replayDelivery", "id", DELIVERY_KEYS, "deliveries { id status payload }"),
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "replayDeliveries",
        "foreign-endpoint",
        'mutation($e: ID!) { replayDeliveries(endpointId: $e, since: "2000-01-01T00:00:00+00:00")'
        f" {{ deliveries {{ id payload }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"e": ids["a_endpoint"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "webhookSettings",
        "own-only",
        "{ webhookSettings { pointsExpiringSoonDays } }",
        lambda ids: {},
        ADMIN,
        expect_settings_of_b,
    ),
    Probe(
        "setWebhookSettings",
        "own-tenant-only",
        "mutation { setWebhookSettings(pointsExpiringSoonDays: 3)"
        " { settings { pointsExpiringSoonDays } errors { code } } }",
        lambda ids: {},
        ADMIN,
        expect_settings_of_b,
    ),
    Probe(
        "webhookHealth",
        "last-day",
        "{ webhookHealth { endpoint { id url } delivered retrying pending dead } }",
        lambda ids: {},
        ADMIN,
        expect_no_endpoint_health,
    ),
]


test_tenant_b_cannot_reach_tenant_a = probe_test(PROBES)
