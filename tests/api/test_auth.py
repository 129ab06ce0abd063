"""Who may call what: no or bad credentials, expiry, revoked keys, roles, login, API keys."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import graphql
import pytest
from graphql import GraphQLField, GraphQLInputType

from core import cache, clock
from core.settings import Settings
from models.tenancy.tables import ApiKey as ApiKeyModel
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import PayloadFormat
from schema.root import schema
from tests.factories import PASSWORD, make_member, make_reward, make_tier
from tests.graphql_client import GraphQLClient, TenantSession

Body = dict[str, Any]
PUBLIC_FIELDS = {"login"}

# ------------------------------------------------------- one minimal call per root field

_SCALAR_LITERALS = {
    "ID": lambda: f'"{uuid.uuid4()}"',
    "String": lambda: '"x"',
    "Int": lambda: "1",
    "Float": lambda: "1.0",
    "Boolean": lambda: "false",
    "DateTime": lambda: '"2030-01-01T00:00:00+00:00"',
    "JSON": lambda: "{}",
}


def _literal(type_: GraphQLInputType) -> str:
    """A valid GraphQL literal for an input type, with only the required input fields."""
    if graphql.is_non_null_type(type_):
        return _literal(type_.of_type)
    if graphql.is_list_type(type_):
        return f"[{_literal(type_.of_type)}]"
    if graphql.is_enum_type(type_):
        return next(iter(type_.values))
    if graphql.is_input_object_type(type_):
        fields = type_.fields.items()
        required = [
            f"{name}: {_literal(f.type)}"
            for name, f in fields
            if graphql.is_required_input_field(f)
        ]
        return "{" + ", ".join(required) + "}"
    return _SCALAR_LITERALS[graphql.get_named_type(type_).name]()


def _minimal_call(operation: str, name: str, field: GraphQLField) -> str:
    args = [
        f"{arg_name}: {_literal(arg.type)}"
        for arg_name, arg in field.args.items()
        if graphql.is_required_argument(arg)
    ]
    call = f"{name}({', '.join(args)})" if args else name
    selection = (
        "" if graphql.is_leaf_type(graphql.get_named_type(field.type)) else " { __typename }"
    )
    return f"{operation} {{ {call}{selection} }}"


def _root_calls() -> dict[str, str]:
    parsed = graphql.build_schema(str(schema))
    assert parsed.query_type is not None and parsed.mutation_type is not None
    calls = {n: _minimal_call("query", n, f) for n, f in parsed.query_type.fields.items()}
    calls |= {n: _minimal_call("mutation", n, f) for n, f in parsed.mutation_type.fields.items()}
    return calls


ROOT_CALLS = _root_calls()
PROTECTED = sorted(set(ROOT_CALLS) - PUBLIC_FIELDS)


def _codes(body: Body) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def _post(gql: GraphQLClient, document: str, authorization: str | None) -> Body:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await gql.http.post("/graphql", json={"query": document}, headers=headers)
    assert response.status_code == 200, response.text
    body: Body = response.json()
    return body


BAD_CREDENTIALS = [
    None,  # no Authorization header
    "Bearer not-a-token",
    "Bearer " + "e30.e30.c2ln",  # JWT-shaped, not signed by us
    "Bearer gk_" + "A" * 43,  # API-key-shaped, unknown
    "Basic YWRtaW46cGFzc3dvcmQ=",
    "Bearer ",
]


@pytest.mark.parametrize("field", PROTECTED)
async def test_protected_fields_need_valid_credentials(gql: GraphQLClient, field: str) -> None:
    for authorization in BAD_CREDENTIALS:
        # given a caller without valid credentials
        # when it calls the field
        body = await _post(gql, ROOT_CALLS[field], authorization)
        # then one top-level UNAUTHENTICATED error, and no data
        assert _codes(body) == ["UNAUTHENTICATED"], (authorization, body)
        assert body["data"] is None or body["data"][field] is None, body


async def test_login_is_public_even_with_a_stale_token(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a garbage token in the header, as a console sends after its token went stale
    document = (
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) "
        "{ token errors { code } } }"
    )
    for_wrong, for_right = [
        await gql.http.post(
            "/graphql",
            json={"query": document, "variables": {"e": tenant.admin_email, "p": password}},
            headers={"Authorization": "Bearer not-a-token"},
        )
        for password in ("wrong-password-123", PASSWORD)
    ]
    # when calling login (the one public field), then it answers as without the header:
    # wrong credentials for the wrong password, a token for the right one
    assert for_wrong.json() == {
        "data": {"login": {"token": None, "errors": [{"code": "INVALID_CREDENTIALS"}]}}
    }
    right = for_right.json()["data"]["login"]
    assert right["errors"] == [] and right["token"]


# --------------------------------------------------------------------------- expiry

TIERS = "{ tiers { id } }"
ME = "{ me { id } }"
MEMBER_TOKEN = """
mutation($id: ID!) { createMemberToken(memberId: $id) { token expiresAt errors { code } } }"""


async def _member_token(gql: GraphQLClient, t: TenantSession, member_id: str) -> str:
    body = await gql(MEMBER_TOKEN, {"id": member_id}, t.api_key)
    token: str = body["data"]["createMemberToken"]["token"]
    return token


async def test_admin_token_expires(
    gql: GraphQLClient, tenant: TenantSession, settings: Settings
) -> None:
    # given an admin token that works
    assert "errors" not in await gql(TIERS, token=tenant.admin_token)
    # when its lifetime has passed
    clock.advance(timedelta(seconds=settings.admin_token_ttl + 1))
    body = await gql(TIERS, token=tenant.admin_token)
    # then it is refused as expired (a client fetches a new one), while the API key works
    assert _codes(body) == ["TOKEN_EXPIRED"] and body["data"] is None
    assert "errors" not in await gql(TIERS, token=tenant.api_key)


async def test_member_token_expires(
    gql: GraphQLClient, tenant: TenantSession, settings: Settings
) -> None:
    # given a member token that works
    member = await make_member(uuid.UUID(tenant.tenant_id))
    token = await _member_token(gql, tenant, str(member.id))
    assert (await gql(ME, token=token))["data"]["me"]["id"] == str(member.id)
    # when its lifetime has passed
    clock.advance(timedelta(seconds=settings.member_token_ttl + 1))
    body = await gql(ME, token=token)
    # then
    assert _codes(body) == ["TOKEN_EXPIRED"] and body["data"] in (None, {"me": None})


async def test_token_signed_with_another_key_is_refused(
    gql: GraphQLClient, tenant: TenantSession, settings: Settings
) -> None:
    # given a well-formed admin token for this tenant, signed with someone else's key
    from core.security import issue_token

    forged = issue_token(
        "not-our-secret-" + "y" * 32, "admin", str(uuid.uuid4()), tenant.tenant_id, 3600
    )
    # when
    body = await gql(TIERS, token=forged)
    # then
    assert _codes(body) == ["UNAUTHENTICATED"]


async def test_a_token_altered_after_the_real_one_was_used_is_refused(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a member token that was used (its checked claims are kept by the process)
    member = await make_member(uuid.UUID(tenant.tenant_id))
    token = await _member_token(gql, tenant, str(member.id))
    assert (await gql(ME, token=token))["data"]["me"]["id"] == str(member.id)
    # when its signature is changed, or its claims are swapped for another member's
    header, claims, signature = token.split(".")
    other = await make_member(uuid.UUID(tenant.tenant_id))
    other_claims = (await _member_token(gql, tenant, str(other.id))).split(".")[1]
    for altered in (
        f"{header}.{claims}.{signature[::-1]}",
        f"{header}.{other_claims}.{signature}",
    ):
        # then it is refused: what was kept is the exact token's
        assert _codes(await gql(ME, token=altered)) == ["UNAUTHENTICATED"]


# -------------------------------------------------------------------------- API keys

CREATE_KEY = """
mutation($name: String!) {
  createApiKey(name: $name) { key apiKey { id name prefix createdAt revokedAt } errors { field code } }
}"""
REVOKE_KEY = """
mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revokedAt } errors { code } } }"""
LIST_KEYS = "{ apiKeys { id name prefix revokedAt } }"


async def test_revoked_api_key_stops_working(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given a key created by the admin, which works
    created = (await gql(CREATE_KEY, {"name": "shop"}, tenant.admin_token))["data"]["createApiKey"]
    key, key_id = created["key"], created["apiKey"]["id"]
    assert "errors" not in await gql(TIERS, token=key)
    # when the admin revokes it
    revoked = await gql(REVOKE_KEY, {"id": key_id}, tenant.admin_token)
    # then the key is refused, is listed as revoked, and the tenant's other key still works
    assert revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    body = await gql(TIERS, token=key)
    assert _codes(body) == ["UNAUTHENTICATED"] and body["data"] is None
    listed = {
        k["id"]: k for k in (await gql(LIST_KEYS, token=tenant.admin_token))["data"]["apiKeys"]
    }
    assert listed[key_id]["revokedAt"] is not None
    assert "errors" not in await gql(TIERS, token=tenant.api_key)


async def test_a_process_without_the_invalidations_refuses_a_revoked_key_at_once(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a process that does not follow the invalidations (no Redis here: its caches
    # serve nothing), where a key has just worked
    assert not cache.following()
    created = (await gql(CREATE_KEY, {"name": "shop"}, tenant.admin_token))["data"]["createApiKey"]
    key, key_id = created["key"], created["apiKey"]["id"]
    assert "errors" not in await gql(TIERS, token=key)
    # when the key is revoked behind the engine's back (no one announces it)
    await ApiKeyModel.filter(id=key_id).update(revoked_at=clock.now())
    # then its next request is refused: the process reads the key every time
    assert _codes(await gql(TIERS, token=key)) == ["UNAUTHENTICATED"]


async def test_a_following_process_serves_a_key_from_memory_until_it_is_revoked(
    gql: GraphQLClient, tenant: TenantSession, following: None
) -> None:
    # given a key that has worked on this process
    created = (await gql(CREATE_KEY, {"name": "shop"}, tenant.admin_token))["data"]["createApiKey"]
    key, key_id = created["key"], created["apiKey"]["id"]
    assert "errors" not in await gql(TIERS, token=key)
    # then it is served from memory: its row changed behind the engine's back is not seen
    await ApiKeyModel.filter(id=key_id).update(revoked_at=clock.now())
    assert "errors" not in await gql(TIERS, token=key)
    await ApiKeyModel.filter(id=key_id).update(revoked_at=None)
    # when the admin revokes it
    await gql(REVOKE_KEY, {"id": key_id}, tenant.admin_token)
    # then it is refused at once, and again on the next try; the tenant's other key works
    for _ in range(2):
        assert _codes(await gql(TIERS, token=key)) == ["UNAUTHENTICATED"]
    assert "errors" not in await gql(TIERS, token=tenant.api_key)


async def test_api_key_is_shown_once_and_stored_hashed(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # when the admin creates a key
    body = await gql(CREATE_KEY, {"name": "warehouse"}, tenant.admin_token)
    # then the secret comes back once, recognisable by its prefix
    created = body["data"]["createApiKey"]
    key: str = created["key"]
    assert created["errors"] == [] and key.startswith("gk_") and len(key) > 40
    assert key.startswith(created["apiKey"]["prefix"]) and len(created["apiKey"]["prefix"]) < 12
    # and the listing shows only the prefix
    listed = await gql(LIST_KEYS, token=tenant.admin_token)
    assert key not in str(listed) and key[12:] not in str(listed)
    mine = [k for k in listed["data"]["apiKeys"] if k["id"] == created["apiKey"]["id"]]
    assert mine == [
        {"id": created["apiKey"]["id"], "name": "warehouse", "prefix": key[:9], "revokedAt": None}
    ]
    # and the database row holds a digest, never the secret
    row_values = await ApiKeyModel.filter(id=created["apiKey"]["id"]).values()
    stored = " ".join(str(v) for v in row_values[0].values())
    assert key not in stored and key[9:] not in stored and key[12:30] not in stored
    row = await ApiKeyModel.get(id=created["apiKey"]["id"])
    assert row.digest == hashlib.sha256(key.encode()).hexdigest()


async def test_api_key_needs_a_name(gql: GraphQLClient, tenant: TenantSession) -> None:
    # when
    body = await gql(CREATE_KEY, {"name": "  "}, tenant.admin_token)
    # then
    created = body["data"]["createApiKey"]
    assert created["key"] is None and created["apiKey"] is None
    assert created["errors"] == [{"field": "name", "code": "INVALID"}]


# ---------------------------------------------------------------------------- login

LOGIN = """
mutation($e: String!, $p: String!) {
  login(email: $e, password: $p) { token expiresAt errors { field code } }
}"""


async def test_wrong_password_gets_no_token(gql: GraphQLClient, tenant: TenantSession) -> None:
    # when logging in with a wrong password, and with an unknown email
    wrong = await gql(LOGIN, {"e": tenant.admin_email, "p": "wrong-password-123"})
    unknown = await gql(LOGIN, {"e": "nobody@nowhere.test", "p": PASSWORD})
    # then both get INVALID_CREDENTIALS and no token, and look the same
    for body in (wrong, unknown):
        assert body["data"]["login"] == {
            "token": None,
            "expiresAt": None,
            "errors": [{"field": "password", "code": "INVALID_CREDENTIALS"}],
        }


async def test_right_password_gets_a_working_token(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # when the admin logs in (email in another case)
    body = await gql(LOGIN, {"e": tenant.admin_email.upper(), "p": PASSWORD})
    # then the token works for admin fields of its tenant
    login = body["data"]["login"]
    assert login["errors"] == [] and login["expiresAt"] is not None
    keys = await gql(LIST_KEYS, token=login["token"])
    assert "errors" not in keys and len(keys["data"]["apiKeys"]) == 1


# -------------------------------------------------------------------------- roles

STATE = """
query($m: ID) {
  rewards(includeArchived: true) { nodes { id name stock archivedAt enabled } }
  tiers { id name } pointDefinitions { id name }
  members { nodes { id email accounts { balance } } }
  redemptions { nodes { id status fulfillmentData } }
  ledger(memberId: $m) { nodes { id } }
  webhookEndpoints { id url }
}"""


async def _roles_world(gql: GraphQLClient, t: TenantSession) -> dict[str, str]:
    tenant_id = uuid.UUID(t.tenant_id)
    reward = await make_reward(tenant_id, point_cost=100, stock=5)
    member = await make_member(tenant_id, points=500)
    token = await _member_token(gql, t, str(member.id))
    redeemed = await gql(
        "mutation($r: ID!) { redeemReward(rewardId: $r) { redemption { id } errors { code } } }",
        {"r": str(reward.id)},
        token,
    )
    keys = await gql(LIST_KEYS, token=t.admin_token)
    tier = await make_tier(tenant_id, "roles-tier", 3)
    unredeemed = await make_reward(tenant_id, point_cost=100)
    endpoint = await create_endpoint(
        tenant_id,
        "https://8.8.8.8/roles",
        ["reward_redeemed"],
        PayloadFormat.GAMIFY,
        allow_private=False,
    )
    return {
        "tier": str(tier.id),
        "unredeemed": str(unredeemed.id),
        "endpoint": str(endpoint.endpoint.id),
        "reward": str(reward.id),
        "member": str(member.id),
        "member_token": token,
        "redemption": redeemed["data"]["redeemReward"]["redemption"]["id"],
        "api_key_id": keys["data"]["apiKeys"][0]["id"],
    }


async def _state(gql: GraphQLClient, t: TenantSession, w: dict[str, str]) -> Body:
    body = await gql(STATE, {"m": w["member"]}, t.admin_token)
    assert "errors" not in body, body
    keys = await gql(LIST_KEYS, token=t.admin_token)
    return {"state": body, "keys": keys}


Call = tuple[str, str, Callable[[dict[str, str]], dict[str, Any]]]

ADMIN_ONLY: list[Call] = [
    (
        "createReward",
        'mutation { createReward(input: {name: "x", type: GIFT, pointCost: 1}) { reward { id } errors { code } } }',
        lambda w: {},
    ),
    (
        "updateReward",
        'mutation($r: ID!) { updateReward(id: $r, input: {name: "x"}) { reward { id } errors { code } } }',
        lambda w: {"r": w["reward"]},
    ),
    (
        "deleteReward",
        "mutation($r: ID!) { deleteReward(id: $r) { deleted errors { code } } }",
        lambda w: {"r": w["unredeemed"]},
    ),
    (
        "archiveReward",
        "mutation($r: ID!) { archiveReward(id: $r) { reward { id } errors { code } } }",
        lambda w: {"r": w["reward"]},
    ),
    (
        "confirmRedemption",
        "mutation($r: ID!) { confirmRedemption(id: $r) { redemption { id } errors { code } } }",
        lambda w: {"r": w["redemption"]},
    ),
    (
        "cancelRedemption",
        "mutation($r: ID!) { cancelRedemption(id: $r) { redemption { id } errors { code } } }",
        lambda w: {"r": w["redemption"]},
    ),
    ("createApiKey", 'mutation { createApiKey(name: "x") { key errors { code } } }', lambda w: {}),
    (
        "revokeApiKey",
        "mutation($k: ID!) { revokeApiKey(id: $k) { apiKey { id } errors { code } } }",
        lambda w: {"k": w["api_key_id"]},
    ),
    (
        "saveTier",
        'mutation { saveTier(input: {name: "x", rank: 1}) { tier { id } errors { code } } }',
        lambda w: {},
    ),
    (
        "deleteTier",
        "mutation($t: ID!) { deleteTier(id: $t) { deleted errors { code } } }",
        lambda w: {"t": w["tier"]},
    ),
    (
        "savePointDefinition",
        'mutation { savePointDefinition(input: {name: "x"}) { pointDefinition { id } errors { code } } }',
        lambda w: {},
    ),
    ("apiKeys", "{ apiKeys { id } }", lambda w: {}),
    (
        "createWebhookEndpoint",
        'mutation { createWebhookEndpoint(input: {url: "https://8.8.8.8/h"}) { secret errors { code } } }',
        lambda w: {},
    ),
    ("webhookEndpoints", "{ webhookEndpoints { id } }", lambda w: {}),
    ("webhookDeliveries", "{ webhookDeliveries { nodes { id } } }", lambda w: {}),
    (
        "replayDeliveries",
        'mutation($e: ID!) { replayDeliveries(endpointId: $e, since: "2000-01-01T00:00:00Z") { errors { code } } }',
        lambda w: {"e": w["endpoint"]},
    ),
]
BACKEND_ONLY: list[Call] = [
    (
        "awardPoints",
        "mutation($m: ID) { awardPoints(input: {memberId: $m, amount: 1000}) { entry { id } errors { code } } }",
        lambda w: {"m": w["member"]},
    ),
    (
        "upsertMember",
        'mutation { upsertMember(input: {externalUserId: "x", email: "x@y.z"}) { created errors { code } } }',
        lambda w: {},
    ),
    (
        "completeRedemption",
        'mutation($r: ID!) { completeRedemption(id: $r, status: FULFILLED, data: {code: "X"}) { redemption { id } errors { code } } }',
        lambda w: {"r": w["redemption"]},
    ),
    (
        "createMemberToken",
        "mutation($m: ID) { createMemberToken(memberId: $m) { token errors { code } } }",
        lambda w: {"m": w["member"]},
    ),
    ("members", "{ members { nodes { id } } }", lambda w: {}),
    ("rewards", "{ rewards { nodes { id } } }", lambda w: {}),
]
# What each credential may not do: a member nothing of the admin's or the backend's;
# an API key nothing admin-only; an admin token is no fulfilment backend.
FORBIDDEN_CASES = (
    [("member", call) for call in ADMIN_ONLY + BACKEND_ONLY]
    + [("api_key", call) for call in ADMIN_ONLY]
    + [("admin", call) for call in BACKEND_ONLY if call[0] == "completeRedemption"]
    + [
        ("admin", ("me", "{ me { id } }", lambda w: {})),
        ("api_key", ("me", "{ me { id } }", lambda w: {})),
    ]
)


@pytest.mark.parametrize(
    ("caller", "call"), FORBIDDEN_CASES, ids=[f"{c}-{call[0]}" for c, call in FORBIDDEN_CASES]
)
async def test_callers_may_not_overstep(
    gql: GraphQLClient, tenant: TenantSession, caller: str, call: Call
) -> None:
    # given a tenant with a reward, a member with points and a pending redemption
    world = await _roles_world(gql, tenant)
    before = await _state(gql, tenant, world)
    credential = {
        "member": world["member_token"],
        "api_key": tenant.api_key,
        "admin": tenant.admin_token,
    }[caller]
    field, document, variables = call

    # when a caller calls a field its role may not use
    body = await gql(document, variables(world), credential)

    # then one top-level FORBIDDEN error, no data, and nothing changed
    assert _codes(body) == ["FORBIDDEN"], body
    assert body["data"] is None or body["data"][field] is None, body
    assert await _state(gql, tenant, world) == before


ALLOWED_CASES = [("admin", call) for call in ADMIN_ONLY] + [
    ("api_key", call) for call in BACKEND_ONLY
]


@pytest.mark.parametrize(
    ("caller", "call"), ALLOWED_CASES, ids=[f"{c}-{call[0]}" for c, call in ALLOWED_CASES]
)
async def test_roles_do_work_where_allowed(
    gql: GraphQLClient, tenant: TenantSession, caller: str, call: Call
) -> None:
    """The FORBIDDEN table proves something only if the same calls work for the right role."""
    # given the same world as for the refusals
    world = await _roles_world(gql, tenant)
    credential = tenant.admin_token if caller == "admin" else tenant.api_key
    field, document, variables = call
    # when the role the field is for calls it
    body = await gql(document, variables(world), credential)
    # then it is neither refused nor answered with a payload error
    assert "errors" not in body, body
    answer = body["data"][field]
    assert answer is not None, body
    if isinstance(answer, dict) and "errors" in answer:
        assert answer["errors"] == [], body
