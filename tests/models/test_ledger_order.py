"""The ledger lists entries in the order balances moved, whatever the concurrency.

On PostgreSQL the requests below run on separate pooled connections at once: a redemption
reads its time before waiting for the account's lock, so a listing by time alone showed
an entry 20 -> 10 before the entry 10 -> 0 it followed.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from models.members.tables import Member
from models.pointmaster.uploads import apply_batch
from models.points.tables import LedgerEntry, PointAccount
from models.tenancy.access import create_api_key
from models.tenancy.tables import PointMode
from tests.factories import make_member, make_reward, make_tenant
from tests.graphql_client import GraphQLClient
from tests.pointmaster.conftest import follower_of
from tests.pointmaster.ingest import post, purchase

REDEEM = """mutation($r: ID!, $m: ID!) {
  redeemReward(rewardId: $r, memberId: $m) { redemption { id } errors { code } } }"""
AWARD = """mutation($m: ID!, $a: Int!) {
  awardPoints(input: {memberId: $m, amount: $a}) { entry { id } errors { code } } }"""
LEDGER = """query($m: ID!, $after: String) {
  ledger(memberId: $m, first: 7, after: $after) {
    nodes { balanceBefore balanceAfter amount }
    pageInfo { hasNextPage endCursor } } }"""


async def _listed(gql: GraphQLClient, key: str, member_id: str) -> list[dict[str, Any]]:
    """The whole ledger, newest first, page after page."""
    entries: list[dict[str, Any]] = []
    after = None
    while True:
        body = await gql(LEDGER, {"m": member_id, "after": after}, key)
        page = body["data"]["ledger"]
        entries += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return entries
        after = page["pageInfo"]["endCursor"]


async def test_concurrent_redemptions_and_awards_list_as_a_balance_chain(
    gql: GraphQLClient,
) -> None:
    # given a member with 500 points and a reward of 10
    shop = await make_tenant()
    _, key = await create_api_key(shop.tenant.id, "backend")
    member = await make_member(shop.tenant.id, points=500)
    reward = await make_reward(shop.tenant.id, point_cost=10)
    ids = {"r": str(reward.id), "m": str(member.id)}

    # when 40 redemptions and 10 awards of 5 points run at once, in rounds
    for _ in range(5):
        calls = [gql(REDEEM, ids, key) for _ in range(8)]
        calls += [gql(AWARD, {"m": ids["m"], "a": 5}, key) for _ in range(2)]
        results = await asyncio.gather(*calls)
        assert all("errors" not in r for r in results), results
        assert all(
            not (r["data"].get("redeemReward") or r["data"]["awardPoints"])["errors"]
            for r in results
        ), results

    # then the ledger, newest first, is one chain: each entry starts where the entry
    # listed after it (the next older one) ended, from 0 up to the balance now
    entries = await _listed(gql, key, ids["m"])
    assert len(entries) == 1 + 40 + 10
    breaks = [
        (newer, older)
        for newer, older in itertools.pairwise(entries)
        if newer["balanceBefore"] != older["balanceAfter"]
    ]
    assert breaks == []
    assert entries[-1]["balanceBefore"] == 0
    account = await PointAccount.get(member_id=member.id)
    assert entries[0]["balanceAfter"] == account.balance == 500 - 40 * 10 + 10 * 5


async def test_uploads_applied_at_once_number_their_postings_in_the_chain(
    gql: GraphQLClient,
) -> None:
    # given four transaction uploads from the point master for one contact (the bulk path)
    follower = await follower_of(gql.http, PointMode.FOLLOWER_TRANSACTIONS)
    uploads = [
        await post(
            follower,
            "transactions",
            [purchase("racer", 5 + k, 100 * u + k) for k in range(20)],
        )
        for u in range(4)
    ]

    # when they are applied at once
    applied = await asyncio.gather(*(apply_batch(u) for u in uploads))
    assert all(b is not None and b.status == "Completed" for b in applied), applied

    # then the account's postings are numbered 1..80 in the order the balance moved
    member = await Member.get(tenant_id=follower.tenant_id, external_user_id="racer")
    account = await PointAccount.get(member_id=member.id)
    numbered = await LedgerEntry.filter(account_id=account.id).order_by("seq")
    assert [e.seq for e in numbered] == list(range(1, 81))
    assert all(
        older.balance_after == newer.balance_before for older, newer in itertools.pairwise(numbered)
    )
    assert account.ledger_seq == 80
    # and the ledger lists them in that order
    listed = await _listed(gql, follower.api_key, str(member.id))
    assert [(e["balanceBefore"], e["balanceAfter"]) for e in listed] == [
        (e.balance_before, e.balance_after) for e in reversed(numbered)
    ]
