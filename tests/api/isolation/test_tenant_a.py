"""Tenant A's own view of its world (the probes prove something only if A sees its data),
what a member of A never reads, and B's point master naming A's contacts."""

from __future__ import annotations

import json

import pytest

from tests.api.isolation.probes import _assert_nothing_of_a
from tests.api.isolation.test_member_to_member import _member_token
from tests.api.isolation.world import STATUSES, World, snapshot
from tests.graphql_client import GraphQLClient
from workers.sync import apply_sync_batch

pytestmark = pytest.mark.module_world


async def test_tenant_a_sees_its_world(gql: GraphQLClient, world: World) -> None:
    """The probes above prove something only if A's own credentials do see the data."""
    # given A's world
    # when
    taken = await snapshot(gql, world)
    by_a = await gql(
        "query($r: ID!, $m: ID) { reward(id: $r) { name } member(id: $m) { email } }",
        {"r": world.ids["a_retired"], "m": world.ids["a_member"]},
        world.a.api_key,
    )
    # then
    catalog = taken["catalog"]["data"]
    assert {r["name"] for r in catalog["rewards"]["nodes"]} == {
        "alpha-voucher",
        "alpha-gated",
        "alpha-retired",
        "alpha-unredeemed",
        "alpha-pooled",
    }
    pooled = next(r for r in catalog["rewards"]["nodes"] if r["name"] == "alpha-pooled")
    assert pooled["codePool"] == {
        "size": 3,
        "free": 2,
        "used": 1,
        "burnt": 0,
        "expired": 0,
        "lowStockThreshold": 2,
    }
    assert {t["name"] for t in catalog["tiers"]} == {"alpha-gold", "alpha-silver"}
    assert catalog["allowedOrigins"] == ["https://alpha-shop.example"]
    assert len(catalog["apiKeys"]) == 2 and len(catalog["pointDefinitions"]) == 2
    assert [e["id"] for e in catalog["webhookEndpoints"]] == [world.ids["a_endpoint"]]
    delivery_states = {d["id"]: d["status"] for d in catalog["webhookDeliveries"]["nodes"]}
    assert delivery_states[world.ids["a_delivery_dead"]] == "DEAD"
    assert delivery_states[world.ids["a_delivery_delivered"]] == "DELIVERED"
    statuses = [r["status"] for r in taken["members"]["data"]["redemptions"]["nodes"]]
    assert set(statuses) == set(STATUSES)
    assert by_a["data"] == {
        "reward": {"name": "alpha-retired"},
        "member": {"email": "alpha-m1@example.com"},
    }


TENANT_ONLY_VIEW = """
query($r: ID!) {
  reward(id: $r) { fulfillmentData }
  catalog { nodes { reward { name fulfillmentData } } }
  redemptions { nodes { status fulfillmentData events { kind data } } }
}"""


async def test_member_never_reads_what_only_the_tenant_sees(
    gql: GraphQLClient, world: World
) -> None:
    # given tenant A's world: a reward carrying fulfilment data for the tenant's backend,
    # and member M1's redemptions in every status, webhooks posted for some
    m1_token = await _member_token(gql, world, "a_member")
    # when M1 reads the reward, the catalog and its redemptions with their timelines
    body = await gql(TENANT_ONLY_VIEW, {"r": world.ids["a_reward"]}, m1_token)
    by_tenant = await gql(TENANT_ONLY_VIEW, {"r": world.ids["a_reward"]}, world.a.api_key)
    # then the reward's fulfilment data never shows, nor any webhook body or answer
    assert "errors" not in body, body
    assert body["data"]["reward"] == {"fulfillmentData": None}
    assert {n["reward"]["fulfillmentData"] for n in body["data"]["catalog"]["nodes"]} == {None}
    text = json.dumps(body)
    assert "alpha-sku" not in text and "alpha-hook" not in text, body
    unfulfilled = [r for r in body["data"]["redemptions"]["nodes"] if r["status"] != "FULFILLED"]
    assert unfulfilled and all(r["fulfillmentData"] is None for r in unfulfilled)
    # while the tenant's backend reads the same objects in full
    assert by_tenant["data"]["reward"] == {"fulfillmentData": {"sku": "alpha-sku"}}


UPLOADS = {
    "FOLLOWER_BALANCE": "uploadPointBalances(items: [{contactId: $e, amount: 777,"
    ' definitionId: 1, timeStamp: "2031-01-01T00:00:00Z"}])',
    "FOLLOWER_TRANSACTIONS": "uploadPointTransactions(items: [{contactId: $e, amount: 777,"
    ' definitionId: 1, timeStamp: "2031-01-01T00:00:00Z", source: "Purchase"}])',
}


@pytest.mark.parametrize("mode", sorted(UPLOADS))
async def test_upload_naming_a_contact_of_a_is_applied_to_b_only(
    gql: GraphQLClient, world: World, mode: str
) -> None:
    # given tenant A's world, and tenant B following a point master
    switched = await gql(
        f'mutation {{ setPointMode(mode: {mode}, reason: "probe") {{ errors {{ code }} }} }}',
        token=world.b.admin_token,
    )
    assert switched["data"]["setPointMode"]["errors"] == []
    before = await snapshot(gql, world)
    # when B's master uploads points for the contact id that is A's member's
    uploaded = await gql(
        f"mutation($e: String!) {{ {UPLOADS[mode]} {{ batch {{ id }} errors {{ code }} }} }}",
        {"e": world.ids["a_member_ext"]},
        world.b.api_key,
    )
    payload = next(iter(uploaded["data"].values()))
    assert payload["errors"] == [], uploaded
    # and a worker applies the batch
    status = await apply_sync_batch({}, payload["batch"]["id"])
    # then B got a member of its own under that id, with the points
    assert status == "Completed"
    b_member = await gql(
        "query($e: String) { member(externalUserId: $e) { email accounts { balance } } }",
        {"e": world.ids["a_member_ext"]},
        world.b.api_key,
    )
    assert b_member["data"]["member"] == {"email": None, "accounts": [{"balance": 777}]}
    # and nothing of A changed, nor shows in B's answers
    assert await snapshot(gql, world) == before
    _assert_nothing_of_a(uploaded, world, f"upload in {mode}")
    _assert_nothing_of_a(b_member, world, f"B's member after the {mode} upload")
