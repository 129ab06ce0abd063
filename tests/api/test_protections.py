"""The API's protections: query limits, GET, error masking, production switches, paging."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import graphql
import httpx
import pytest

import resolvers.tenants
from core import clock
from core.settings import Settings
from engine.app import create_app
from models.redemptions.redeem import RedeemRequest, redeem
from schema.root import schema
from tests.factories import make_member, make_reward
from tests.graphql_client import GraphQLClient, TenantSession

Body = dict[str, Any]


@asynccontextmanager
async def app_client(settings: Settings, **changes: Any) -> AsyncIterator[GraphQLClient]:
    """A client on an app built with other settings (on the test database)."""
    app = create_app(dataclasses.replace(settings, **changes), init_orm=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield GraphQLClient(http)


def _messages(body: Body) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]


def _codes(body: Body) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


LIST_KEYS = "{ apiKeys { id } }"


async def _key_count(gql: GraphQLClient, t: TenantSession) -> int:
    return len((await gql(LIST_KEYS, token=t.admin_token))["data"]["apiKeys"])


# ------------------------------------------------------------------------- query limits

DEEP_4 = "{ redemptions { nodes { member { tier { id } } } } }"
DEEP_3 = "{ redemptions { nodes { member { id } } } }"
DEEP_4_BY_FRAGMENTS = """
query { redemptions { ...R } }
fragment R on RedemptionConnection { nodes { ...N } }
fragment N on Redemption { member { tier { id } } }
"""


async def test_too_deep_query_is_rejected(
    settings: Settings, gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given an app whose depth limit is 3 (the schema has no cycles, so the default 10
    # cannot be reached by ordinary fields)
    async with app_client(settings, max_query_depth=3) as shallow:
        # when querying one level deeper than allowed, also through fragments
        deep = await shallow(DEEP_4, token=tenant.api_key)
        by_fragments = await shallow(DEEP_4_BY_FRAGMENTS, token=tenant.api_key)
        at_limit = await shallow(DEEP_3, token=tenant.api_key)
    # then the deeper ones are refused before execution, the one at the limit answers
    for body in (deep, by_fragments):
        assert body.get("data") is None, body
        assert any("exceeds maximum operation depth of 3" in m for m in _messages(body)), body
    assert at_limit == {"data": {"redemptions": {"nodes": []}}}
    # and with the default settings the deepest query of the schema answers
    assert "errors" not in await gql(DEEP_4, token=tenant.api_key)


def _aliased(count: int, field: str = "tiers { id }", operation: str = "query") -> str:
    return operation + " { " + " ".join(f"a{i}: {field}" for i in range(count)) + " }"


async def test_too_many_aliases_are_rejected(
    gql: GraphQLClient, tenant: TenantSession, settings: Settings
) -> None:
    # given the alias limit
    limit = settings.max_query_aliases
    keys_before = await _key_count(gql, tenant)
    # when a query and a mutation use one alias more than allowed
    too_many = await gql(_aliased(limit + 1), token=tenant.admin_token)
    mutation = await gql(
        _aliased(limit + 1, 'createApiKey(name: "burst") { key }', "mutation"),
        token=tenant.admin_token,
    )
    at_limit = await gql(_aliased(limit), token=tenant.admin_token)
    # then both are refused, nothing was created, and the query at the limit answers
    for body in (too_many, mutation):
        assert body.get("data") is None, body
        assert _messages(body) == [f"{limit + 1} aliases found. Allowed: {limit}"], body
    assert await _key_count(gql, tenant) == keys_before
    assert "errors" not in at_limit and len(at_limit["data"]) == limit


async def test_too_many_tokens_are_rejected(
    gql: GraphQLClient, tenant: TenantSession, settings: Settings
) -> None:
    # given a document of more tokens than allowed, and one well under the limit
    limit = settings.max_query_tokens

    def statuses(count: int) -> str:
        listed = " ".join(["REDEEMED"] * count)
        return f"{{ redemptions(filter: {{status: [{listed}]}}) {{ nodes {{ id }} }} }}"

    huge, fine = statuses(limit), statuses(limit // 2)
    # when
    refused = await gql(huge, token=tenant.api_key)
    answered = await gql(fine, token=tenant.api_key)
    # then
    assert refused.get("data") is None, refused
    assert any(f"more than {limit} tokens" in m for m in _messages(refused)), refused
    assert answered == {"data": {"redemptions": {"nodes": []}}}


# ---------------------------------------------------------------------------------- GET


async def test_mutation_over_get_is_refused(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given an admin's credentials
    headers = {"Authorization": f"Bearer {tenant.admin_token}"}
    keys_before = await _key_count(gql, tenant)
    # when a mutation is sent over GET
    response = await gql.http.get(
        "/graphql",
        params={"query": 'mutation { createApiKey(name: "via-get") { key } }'},
        headers=headers,
    )
    # then it is refused with a client error and nothing was created
    assert 400 <= response.status_code < 500, response.text
    assert "mutations are not allowed" in response.text and "gk_" not in response.text
    assert await _key_count(gql, tenant) == keys_before


async def test_query_over_get_works(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given a tier
    await gql(
        'mutation { saveTier(input: {name: "Gold", rank: 1}) { tier { id } } }',
        token=tenant.admin_token,
    )
    # when a query is sent over GET
    response = await gql.http.get(
        "/graphql",
        params={"query": "{ tiers { name rank } }"},
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )
    # then it answers
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"tiers": [{"name": "Gold", "rank": 1}]}}


# ------------------------------------------------------------------------------ masking

SAVE_TIER = """
mutation($name: String!) { saveTier(input: {name: $name, rank: 1}) { tier { id } errors { field code message } } }"""


async def test_unexpected_error_is_masked(
    gql: GraphQLClient, tenant: TenantSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a genuine internal failure in the model function behind saveTier
    # (the API offers no way to cause one on purpose)
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("connection to 10.0.0.5 lost; password=hunter2")

    monkeypatch.setattr(resolvers.tenants, "save_tier", broken)
    # when
    body = await gql(SAVE_TIER, {"name": "Gold"}, tenant.admin_token)
    # then the caller learns that something failed, and nothing about what
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": "Unexpected error.",
            "locations": [{"line": 2, "column": 28}],
            "path": ["saveTier"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]


async def test_domain_and_auth_errors_are_not_masked(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a member to read the ledger of
    member = await make_member(uuid.UUID(tenant.tenant_id))
    # when callers make mistakes of several kinds
    invalid_input = await gql(SAVE_TIER, {"name": " "}, tenant.admin_token)
    page_size = await gql(
        "query($m: ID) { ledger(memberId: $m, first: 500) { nodes { id } } }",
        {"m": str(member.id)},
        tenant.api_key,
    )
    cursor = await gql('{ rewards(after: "not a cursor") { nodes { id } } }', token=tenant.api_key)
    anonymous = await gql("{ tiers { id } }")
    bad_token = await gql("{ tiers { id } }", token="not-a-token")
    forbidden = await gql(LIST_KEYS, token=tenant.api_key)
    unknown_field = await gql("{ tiers { id colour } }", token=tenant.api_key)
    # then each says what is wrong, with its code
    assert invalid_input["data"]["saveTier"]["errors"] == [
        {"field": "name", "code": "REQUIRED", "message": "A name is required"}
    ]
    assert _messages(page_size) == ["first must be 1-100"]
    assert _codes(page_size) == ["INVALID_PAGE_SIZE"]
    assert _messages(cursor) == ["Invalid cursor"] and _codes(cursor) == ["INVALID_CURSOR"]
    assert _messages(anonymous) == ["Authentication required"]
    assert _codes(anonymous) == ["UNAUTHENTICATED"]
    assert _messages(bad_token) == ["Invalid token"] and _codes(bad_token) == ["UNAUTHENTICATED"]
    assert _messages(forbidden) == ["You may not do this"] and _codes(forbidden) == ["FORBIDDEN"]
    assert _messages(unknown_field) == ["Cannot query field 'colour' on type 'Tier'."]


async def test_datetime_without_zone_is_read_as_utc(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    """It used to reach the models naive and fail comparing with aware times: masked."""
    # given a member
    member = await make_member(uuid.UUID(tenant.tenant_id))
    # when points are awarded with a validity end without a zone
    body = await gql(
        "mutation($m: ID, $to: DateTime) { awardPoints(input: {memberId: $m, amount: 10,"
        " validTo: $to}) { entry { amount validTo } errors { code } } }",
        {"m": str(member.id), "to": "2999-01-01T00:00:00"},
        tenant.api_key,
    )
    bad = await gql(
        '{ redemptions(filter: {createdAfter: "yesterday"}) { nodes { id } } }',
        token=tenant.api_key,
    )
    # then the time is taken as UTC, and a non-time is a readable validation error
    assert body == {
        "data": {
            "awardPoints": {
                "entry": {"amount": 10, "validTo": "2999-01-01T00:00:00+00:00"},
                "errors": [],
            }
        }
    }
    assert "Unexpected error." not in _messages(bad)
    assert any("DateTime" in m and "yesterday" in m for m in _messages(bad)), bad


# ---------------------------------------------------------------- production switches

INTROSPECT_SCHEMA = "{ __schema { queryType { name } } }"
INTROSPECT_TYPE = '{ __type(name: "Reward") { name fields { name } } }'


async def test_introspection_can_be_switched_off(
    settings: Settings, gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given an app with introspection off, and one with it on
    async with app_client(settings, introspection=False) as closed:
        # when a client introspects, and when it queries normally
        refused = [
            await closed(q, token=tenant.api_key) for q in (INTROSPECT_SCHEMA, INTROSPECT_TYPE)
        ]
        normal = await closed("{ tiers { __typename id } }", token=tenant.api_key)
    async with app_client(settings, introspection=True) as open_:
        allowed = await open_(INTROSPECT_SCHEMA, token=tenant.api_key)
    # then introspection is refused, ordinary queries answer
    for body in refused:
        assert body.get("data") is None, body
        assert any("introspection" in m.lower() for m in _messages(body)), body
    assert normal == {"data": {"tiers": []}}
    assert allowed == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_graphiql_can_be_switched_off(settings: Settings, db: str) -> None:
    # given apps with the IDE on and off
    html = {"Accept": "text/html"}
    async with app_client(settings, graphiql=True) as with_ide:
        on = await with_ide.http.get("/graphql", headers=html)
    async with app_client(settings, graphiql=False) as without_ide:
        off = await without_ide.http.get("/graphql", headers=html)
    # then only the first serves the IDE
    assert on.status_code == 200 and "graphiql" in on.text.lower()
    assert on.headers["content-type"].startswith("text/html")
    assert off.status_code == 404
    assert "graphiql" not in off.text.lower()


# ------------------------------------------------------------------------------ paging


def _paginated_fields() -> set[str]:
    parsed = graphql.build_schema(str(schema))
    assert parsed.query_type is not None
    return {name for name, f in parsed.query_type.fields.items() if "first" in f.args}


# Arguments a field needs besides `first` (as variables $m = a member id).
PAGINATED: dict[str, str] = {
    "members": "members(first: $first) { nodes { id } }",
    "catalog": "catalog(first: $first) { nodes { canRedeem } }",
    "rewards": "rewards(first: $first) { nodes { id } }",
    "ledger": "ledger(memberId: $m, first: $first) { nodes { id } }",
    "redemptions": "redemptions(first: $first) { nodes { id } }",
    "webhookDeliveries": "webhookDeliveries(first: $first) { nodes { id } }",
    "pointAdjustments": "pointAdjustments(first: $first) { nodes { id } }",
    "syncBatches": "syncBatches(first: $first) { nodes { id } }",
}


def test_every_paginated_field_is_checked() -> None:
    assert set(PAGINATED) == _paginated_fields()


@pytest.mark.parametrize("field", sorted(PAGINATED))
async def test_page_size_is_bounded(gql: GraphQLClient, tenant: TenantSession, field: str) -> None:
    # given a member (for the ledger) and an admin, who may read every list
    member = await make_member(uuid.UUID(tenant.tenant_id))
    params = "$first: Int, $m: ID" if "$m" in PAGINATED[field] else "$first: Int"
    document = f"query({params}) {{ {PAGINATED[field]} }}"
    for first in (101, 0, -1, 1_000_000):
        # when a page larger than 100 (or empty) is asked for
        body = await gql(document, {"first": first, "m": str(member.id)}, tenant.admin_token)
        # then
        assert _codes(body) == ["INVALID_PAGE_SIZE"], (first, body)
        assert body["data"] is None
    # and 100 is allowed
    body = await gql(document, {"first": 100, "m": str(member.id)}, tenant.admin_token)
    assert "errors" not in body, body


async def _all_pages(
    gql: GraphQLClient, token: str, document: str, field: str, size: int
) -> tuple[list[dict[str, Any]], int]:
    nodes: list[dict[str, Any]] = []
    after, pages = None, 0
    while True:
        body = await gql(document, {"first": size, "after": after}, token)
        assert "errors" not in body, body
        page = body["data"][field]
        nodes += page["nodes"]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, pages
        after = page["pageInfo"]["endCursor"]
        assert pages < 50, "pagination does not end"


def _stamp(node: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(node["createdAt"])


REDEMPTION_PAGES = """
query($first: Int, $after: String) {
  redemptions(first: $first, after: $after) {
    nodes { id createdAt } pageInfo { hasNextPage endCursor }
  }
}"""
REWARD_PAGES = """
query($first: Int, $after: String) {
  rewards(first: $first, after: $after) {
    nodes { id name createdAt } pageInfo { hasNextPage endCursor }
  }
}"""


async def test_redemption_pages_hold_every_redemption_once_newest_first(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given 150 redemptions, two at each instant (so pages must break ties by id)
    tenant_id = uuid.UUID(tenant.tenant_id)
    reward = await make_reward(tenant_id, point_cost=1)
    member = await make_member(tenant_id, points=150)
    created: list[tuple[datetime, str]] = []
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    with clock.frozen_at(start):
        for i in range(150):
            if i % 2 == 0:
                clock.advance(timedelta(seconds=1))
            done = await redeem(RedeemRequest(tenant_id, member.id, reward.id))
            created.append((clock.now(), str(done.id)))
    # when reading them 33 at a time (pages split pairs of equal time)
    nodes, pages = await _all_pages(gql, tenant.api_key, REDEMPTION_PAGES, "redemptions", 33)
    # then every redemption comes once, newest first, ties by id
    ids = [n["id"] for n in nodes]
    assert len(ids) == 150 and set(ids) == {rid for _, rid in created}
    assert ids == [rid for _, rid in sorted(created, reverse=True)]
    assert [_stamp(n) for n in nodes] == sorted((_stamp(n) for n in nodes), reverse=True)
    assert pages == 5


async def test_reward_pages_hold_every_reward_once_newest_first(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given 150 rewards created one after the other
    tenant_id = uuid.UUID(tenant.tenant_id)
    names = [f"Reward {i:03d}" for i in range(150)]
    for name in names:
        await make_reward(tenant_id, name=name)
    # when reading them 40 at a time
    nodes, pages = await _all_pages(gql, tenant.admin_token, REWARD_PAGES, "rewards", 40)
    # then every reward comes once, the newest first
    assert [n["name"] for n in nodes] == list(reversed(names))
    assert len({n["id"] for n in nodes}) == 150
    assert pages == 4


async def test_last_page_says_there_is_no_next(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given two rewards
    for _ in range(2):
        await make_reward(uuid.UUID(tenant.tenant_id))
    # when reading two at a time, then after the last one
    page = (await gql(REWARD_PAGES, {"first": 2}, tenant.admin_token))["data"]["rewards"]
    after = await gql(
        REWARD_PAGES, {"first": 2, "after": page["pageInfo"]["endCursor"]}, tenant.admin_token
    )
    # then
    assert page["pageInfo"]["hasNextPage"] is False and len(page["nodes"]) == 2
    assert after["data"]["rewards"] == {
        "nodes": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
