"""Member isolation inside tenant A: member M1 probing member M2."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.isolation.probes import (
    NOT_FOUND_PAYLOAD,
    expect_null,
    expect_payload_not_found,
    expect_top_not_found,
)
from tests.api.isolation.world import ALPHA_CODES, STATUSES, Body, Ids, World
from tests.graphql_client import GraphQLClient

pytestmark = pytest.mark.module_world

M1_PROBES: list[tuple[str, str, Callable[[Ids], dict[str, Any]], Callable[[Body, Ids], None]]] = [
    (
        "member-by-id",
        "query($m: ID) { member(id: $m) { id email } }",
        lambda ids: {"m": ids["a_member2"]},
        expect_null,
    ),
    (
        "member-by-ext",
        "query($e: String) { member(externalUserId: $e) { id email } }",
        lambda ids: {"e": ids["a_member2_ext"]},
        expect_null,
    ),
    (
        "ledger",
        "query($m: ID) { ledger(memberId: $m) { nodes { id amount } } }",
        lambda ids: {"m": ids["a_member2"]},
        expect_top_not_found,
    ),
    (
        "ledger-by-ext",
        "query($e: String) { ledger(externalUserId: $e) { nodes { id amount } } }",
        lambda ids: {"e": ids["a_member2_ext"]},
        expect_top_not_found,
    ),
    (
        "redemption",
        "query($a: ID!, $b: ID!) { a: redemption(id: $a) { id status }"
        " b: redemption(id: $b) { id status } }",
        lambda ids: {"a": ids["a_redemption_m2"], "b": ids["a_redemption_retired"]},
        expect_null,
    ),
    (
        "pooled-redemption",
        "query($a: ID!) { redemption(id: $a) { id status fulfillmentData } }",
        lambda ids: {"a": ids["a_redemption_pooled_m2"]},
        expect_null,
    ),
    (
        "redemptions",
        "query($m: ID) { redemptions(filter: {memberId: $m}) { nodes { id } } }",
        lambda ids: {"m": ids["a_member2"]},
        expect_top_not_found,
    ),
    (
        "redeem",
        "mutation($r: ID!, $m: ID, $e: String) {"
        f" byId: redeemReward(rewardId: $r, memberId: $m) {{ redemption {{ id }} {NOT_FOUND_PAYLOAD} }}"
        f" byExt: redeemReward(rewardId: $r, externalUserId: $e) {{ redemption {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"r": ids["a_reward"], "m": ids["a_member2"], "e": ids["a_member2_ext"]},
        expect_payload_not_found,
    ),
    (
        "catalog",
        "query($m: ID) { catalog(memberId: $m) { nodes { reward { id } canRedeem reason } } }",
        lambda ids: {"m": ids["a_member2"]},
        expect_top_not_found,
    ),
]


async def _member_token(gql: GraphQLClient, world: World, member_key: str) -> str:
    body = await gql(
        "mutation($id: ID!) { createMemberToken(memberId: $id) { token } }",
        {"id": world.ids[member_key]},
        world.a.api_key,
    )
    token: str = body["data"]["createMemberToken"]["token"]
    return token


M2_VIEW = """
query($m: ID) {
  member(id: $m) { accounts { balance pending } }
  redemptions(filter: {memberId: $m}) { nodes { id status pointsSpent } }
}"""


@pytest.mark.parametrize("case", M1_PROBES, ids=lambda c: c[0])
async def test_member_cannot_reach_another_member(
    gql: GraphQLClient, world: World, case: Any
) -> None:
    # given members M1 and M2 of the same tenant, M2 with points and redemptions
    _, document, variables, expect = case
    m1_token = await _member_token(gql, world, "a_member")
    m2_before = await gql(M2_VIEW, {"m": world.ids["a_member2"]}, world.a.api_key)

    # when M1 asks about M2
    body = await gql(document, variables(world.ids), m1_token)

    # then nothing of M2 comes back, exactly as for a member that does not exist
    expect(body, world.ids)
    text = json.dumps(body)
    m2_values = [v for k, v in world.ids.items() if "member2" in k or k.endswith("_m2")]
    assert not [v for v in m2_values if v in text], body
    assert "alpha-m2" not in text and "FORBIDDEN" not in text, body
    assert not [code for code in ALPHA_CODES if code in text], body
    ghost = await gql(document, variables(world.ghost_ids()), m1_token)
    assert body == ghost
    # and M2's balance and redemptions are unchanged
    m2_after = await gql(M2_VIEW, {"m": world.ids["a_member2"]}, world.a.api_key)
    assert m2_after == m2_before
    assert m2_before["data"]["member"]["accounts"][0]["balance"] > 0


async def test_member_lists_only_its_own(gql: GraphQLClient, world: World) -> None:
    # given M1 and M2 both with redemptions and ledger entries
    m1_token = await _member_token(gql, world, "a_member")
    # when M1 lists without naming anyone
    body = await gql(
        "{ me { id } redemptions { nodes { id member { id } } } ledger { nodes { id } }"
        " catalog { nodes { reward { name } canRedeem } } }",
        token=m1_token,
    )
    # then only M1's redemptions come back, and the catalog is answered for M1
    assert "errors" not in body, body
    owners = {r["member"]["id"] for r in body["data"]["redemptions"]["nodes"]}
    assert owners == {world.ids["a_member"]}
    assert len(body["data"]["redemptions"]["nodes"]) == len(STATUSES) + 1
    assert body["data"]["me"]["id"] == world.ids["a_member"]
    assert body["data"]["ledger"]["nodes"]
    gated = {n["reward"]["name"]: n["canRedeem"] for n in body["data"]["catalog"]["nodes"]}
    assert gated == {"alpha-voucher": True, "alpha-gated": True, "alpha-pooled": True}
    # and no code of another member's redemption is in anything M1 reads
    assert not [code for code in ALPHA_CODES if code in json.dumps(body)], body


async def test_member_sees_its_own_code(gql: GraphQLClient, world: World) -> None:
    # given M2, whose redemption of the pooled reward drew a code
    m2_token = await _member_token(gql, world, "a_member2")
    # when M2 lists its redemptions
    body = await gql(
        "{ redemptions { nodes { id status fulfillmentData reward { codePool { size } } } } }",
        token=m2_token,
    )
    # then it sees its code (and not the pool, which is the tenant's)
    pooled = next(
        n
        for n in body["data"]["redemptions"]["nodes"]
        if n["id"] == world.ids["a_redemption_pooled_m2"]
    )
    assert pooled == {
        "id": world.ids["a_redemption_pooled_m2"],
        "status": "FULFILLED",
        "fulfillmentData": {"code": ALPHA_CODES[0]},
        "reward": {"codePool": None},
    }
