"""The whole path a tenant takes, over GraphQL: catalog, members, points, redeem, callback."""

from __future__ import annotations

import re
from uuid import uuid4

from tests import dbsetup
from tests.api.test_batched_reads import statements
from tests.graphql_client import GraphQLClient, TenantSession

CREATE_REWARD = """
mutation($input: RewardInput!) {
  createReward(input: $input) { reward { id name pointCost stock pointDefinition { name } } errors { field code message } }
}"""
UPSERT = """
mutation($input: MemberInput!) {
  upsertMember(input: $input) { member { id externalUserId } created errors { field code } }
}"""
AWARD = """
mutation($input: AwardPointsInput!) {
  awardPoints(input: $input) {
    entry { amount balanceAfter source } grant { status amount }
    account { balance pending } errors { field code }
  }
}"""
TOKEN = """
mutation($id: ID!) { createMemberToken(memberId: $id) { token expiresAt errors { code } } }"""
CATALOG = "{ catalog { nodes { reward { id name } canRedeem reason } } }"
REDEEM = """
mutation($rewardId: ID!, $q: Int!, $key: String) {
  redeemReward(rewardId: $rewardId, quantity: $q, idempotencyKey: $key) {
    redemption { id status pointsSpent events { kind data } }
    errors { field code message }
  }
}"""
COMPLETE = """
mutation($id: ID!, $status: CompletionStatus!, $data: JSON) {
  completeRedemption(id: $id, status: $status, data: $data) {
    redemption { status fulfillmentData events { kind toStatus actor } } errors { code }
  }
}"""
ME = "{ me { externalUserId accounts { balance pending pointDefinition { name } } } }"


async def _member_with_token(gql: GraphQLClient, t: TenantSession, points: int) -> tuple[str, str]:
    body = await gql(UPSERT, {"input": {"externalUserId": "shop-42", "email": "a@b.co"}}, t.api_key)
    member_id = body["data"]["upsertMember"]["member"]["id"]
    if points:
        award = {"memberId": member_id, "amount": points, "source": "PURCHASE"}
        body = await gql(AWARD, {"input": award}, t.api_key)
        assert body["data"]["awardPoints"]["errors"] == []
    body = await gql(TOKEN, {"id": member_id}, t.api_key)
    return member_id, body["data"]["createMemberToken"]["token"]


async def _reward_id(gql: GraphQLClient, t: TenantSession, **reward: object) -> str:
    body = await gql(CREATE_REWARD, {"input": reward}, t.admin_token)
    return str(body["data"]["createReward"]["reward"]["id"])


async def test_member_redeems_and_backend_fulfils(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward and a member with 700 points
    body = await gql(
        CREATE_REWARD,
        {"input": {"name": "Voucher 50k", "type": "VOUCHER", "pointCost": 300, "stock": 5}},
        tenant.admin_token,
    )
    reward = body["data"]["createReward"]["reward"]
    assert reward["pointDefinition"]["name"] == "points"
    me_id, member_token = await _member_with_token(gql, tenant, 700)

    # when the member looks at the catalog and redeems twice
    catalog = await gql(CATALOG, token=member_token)
    first = await gql(REDEEM, {"rewardId": reward["id"], "q": 2, "key": "k1"}, member_token)
    again = await gql(REDEEM, {"rewardId": reward["id"], "q": 1, "key": "k2"}, member_token)

    # then the catalog said yes, the first redeem withdrew 600, the second was refused
    assert catalog["data"]["catalog"]["nodes"][0]["canRedeem"] is True
    redemption = first["data"]["redeemReward"]["redemption"]
    assert redemption["status"] == "REDEEMED" and redemption["pointsSpent"] == 600
    requested, withdrawn = redemption["events"][:2]
    assert withdrawn["kind"] == "POINTS_WITHDRAWN"
    assert withdrawn["data"]["balanceBefore"] == 700 and withdrawn["data"]["balanceAfter"] == 100
    # and the timeline carries what Xtremepush's transaction events do: the token withdrawal
    # names the user and the transaction (the member sees its own ids, never others')
    assert withdrawn["data"]["transactionId"] == redemption["id"]
    assert withdrawn["data"]["userId"] == me_id
    assert requested["kind"] == "REDEEM_REQUESTED" and requested["data"] is None
    by_backend = await gql(
        "query($id: ID!) { redemption(id: $id) { events { kind data } } }",
        {"id": redemption["id"]},
        tenant.api_key,
    )
    asked = by_backend["data"]["redemption"]["events"][0]["data"]
    assert (asked["userId"], asked["externalUserId"], asked["email"]) == (
        me_id,
        "shop-42",
        "a@b.co",
    )
    assert again["data"]["redeemReward"]["errors"][0]["code"] == "INSUFFICIENT_POINTS"
    me = await gql(ME, token=member_token)
    assert me["data"]["me"]["accounts"][0]["balance"] == 100

    # when the backend reports fulfilment with a voucher code
    done = await gql(
        COMPLETE,
        {"id": redemption["id"], "status": "FULFILLED", "data": {"code": "VC-123"}},
        tenant.api_key,
    )
    # then the redemption is fulfilled with the code and the timeline says who did it
    fulfilled = done["data"]["completeRedemption"]["redemption"]
    assert fulfilled["status"] == "FULFILLED"
    assert fulfilled["fulfillmentData"] == {"code": "VC-123"}
    assert fulfilled["events"][-1]["toStatus"] == "FULFILLED"
    assert fulfilled["events"][-1]["actor"].startswith("api_key:gk_")


async def test_fulfilment_data_comes_back_as_given_past_64_bit_numbers_too(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a redemption
    reward_id = await _reward_id(gql, tenant, name="Café", type="GIFT", pointCost=0)
    _, member_token = await _member_with_token(gql, tenant, 0)
    redeemed = await gql(REDEEM, {"rewardId": reward_id, "q": 1}, member_token)
    redemption_id = redeemed["data"]["redeemReward"]["redemption"]["id"]
    # when the backend reports data with text beyond ASCII and a number past 64 bits
    data = {"note": "Zustellung an Café Müller ✓", "serial": 2**70, "ok": True}
    done = await gql(
        COMPLETE, {"id": redemption_id, "status": "FULFILLED", "data": data}, tenant.api_key
    )
    # then the answer carries them as they were given
    assert done["data"]["completeRedemption"]["redemption"]["fulfillmentData"] == data


async def test_a_redemption_reads_its_member_with_its_reward(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward and a member with points, named by the backend by id
    reward_id = await _reward_id(gql, tenant, name="Mug", type="GIFT", pointCost=100)
    member_id, _ = await _member_with_token(gql, tenant, 300)
    redeem = """mutation($r: ID!, $m: ID) {
      redeemReward(rewardId: $r, memberId: $m) { redemption { status } errors { code } } }"""
    # when the backend redeems for it, with the statements counted
    with statements() as seen:
        done = await gql(redeem, {"r": reward_id, "m": member_id}, tenant.api_key)
    # then it is redeemed, and the member was read once: on PostgreSQL in the reward's
    # statement
    assert done["data"]["redeemReward"]["redemption"] == {"status": "REDEEMED"}, done
    reads = [s for s in seen if re.search(r'(FROM|JOIN) "?member"?\b', s)]
    assert len(reads) == 1, seen
    if dbsetup.is_postgres():
        assert "JOIN reward" in reads[0], reads
    # and a member the tenant does not have is refused by name
    missing = await gql(redeem, {"r": reward_id, "m": str(uuid4())}, tenant.api_key)
    assert missing["data"]["redeemReward"]["errors"] == [{"code": "NOT_FOUND"}], missing


async def test_catalog_says_why_a_member_cannot_redeem(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward costing more than the member has
    await gql(
        CREATE_REWARD,
        {"input": {"name": "Gift", "type": "GIFT", "pointCost": 1000}},
        tenant.admin_token,
    )
    _, member_token = await _member_with_token(gql, tenant, 10)
    # when
    catalog = await gql(CATALOG, token=member_token)
    # then
    item = catalog["data"]["catalog"]["nodes"][0]
    assert item["canRedeem"] is False and item["reason"] == "INSUFFICIENT_POINTS"


async def test_failed_callback_refunds(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given a redemption
    reward_id = await _reward_id(
        gql, tenant, name="Code", type="DISCOUNT_CODE", pointCost=50, stock=1
    )
    _, member_token = await _member_with_token(gql, tenant, 50)
    red = await gql(REDEEM, {"rewardId": reward_id, "q": 1}, member_token)
    redemption_id = red["data"]["redeemReward"]["redemption"]["id"]
    # when the backend reports failure twice
    first = await gql(COMPLETE, {"id": redemption_id, "status": "FAILED"}, tenant.api_key)
    second = await gql(COMPLETE, {"id": redemption_id, "status": "FAILED"}, tenant.api_key)
    # then the points came back once and the stock is available again
    assert first["data"]["completeRedemption"]["redemption"]["status"] == "FAILED"
    assert second["data"]["completeRedemption"]["errors"] == []
    me = await gql(ME, token=member_token)
    assert me["data"]["me"]["accounts"][0]["balance"] == 50
    kinds = [e["kind"] for e in second["data"]["completeRedemption"]["redemption"]["events"]]
    assert kinds.count("POINTS_REFUNDED") == 1 and kinds.count("STOCK_RETURNED") == 1
