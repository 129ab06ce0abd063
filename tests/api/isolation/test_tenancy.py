"""Tenant B probing the tenant: login, API keys, allowed origins, admins of tenant A."""

from __future__ import annotations

import pytest

from tests.api.isolation.probes import (
    ADMIN,
    NOT_FOUND_PAYLOAD,
    Probe,
    expect_invalid_credentials,
    expect_new_key_of_b,
    expect_no_error,
    expect_no_origins,
    expect_origins_of_b,
    expect_payload_not_found,
    expect_wrong_password,
    probe_test,
)

pytestmark = pytest.mark.module_world

PROBES: list[Probe] = [
    Probe(
        "allowedOrigins",
        "own-only",
        "{ allowedOrigins }",
        lambda ids: {},
        ADMIN,
        expect_no_origins,
    ),
    Probe(
        "setAllowedOrigins",
        "own-tenant-only",
        'mutation { setAllowedOrigins(origins: ["https://beta.example"]) { origins errors { code } } }',
        lambda ids: {},
        ADMIN,
        expect_origins_of_b,
    ),
    Probe(
        "apiKeys", "list", "{ apiKeys { id name prefix } }", lambda ids: {}, ADMIN, expect_no_error
    ),
    Probe(
        "login",
        "foreign-admin-wrong-password",
        'mutation($e: String!) { login(email: $e, password: "not-the-password")'
        " { token expiresAt errors { code field } } }",
        lambda ids: {"e": ids["a_admin_email"]},
        ADMIN,
        expect_invalid_credentials,
    ),
    Probe(
        "createApiKey",
        "own-tenant-only",
        'mutation { createApiKey(name: "beta-extra") { key apiKey { id } errors { code } } }',
        lambda ids: {},
        ADMIN,
        expect_new_key_of_b,
        same_as_ghost=False,
    ),
    Probe(
        "revokeApiKey",
        "foreign-keys",
        "mutation($k: ID!, $k2: ID!) {"
        f" k1: revokeApiKey(id: $k) {{ apiKey {{ id revokedAt }} {NOT_FOUND_PAYLOAD} }}"
        f" k2: revokeApiKey(id: $k2) {{ apiKey {{ id revokedAt }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"k": ids["a_api_key"], "k2": ids["a_api_key2"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "changePassword",
        "wrong-current",
        'mutation { changePassword(currentPassword: "not-it-at-all", newPassword:'
        ' "a-new-password-1") { changed errors { code field } } }',
        lambda ids: {},
        ADMIN,
        expect_wrong_password,
    ),
]


test_tenant_b_cannot_reach_tenant_a = probe_test(PROBES)
