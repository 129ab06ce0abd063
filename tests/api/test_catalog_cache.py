"""The widget's catalog read from memory: each API process keeps a tenant's live rewards
(models.catalog.reads), reads the stock as it is, and a member token's own rows in one go
(models.members.own_state). What a member sees must be what it would see read afresh."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from core import cache, clock
from models.catalog.tables import Reward
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerSource
from models.redemptions.redeem import RedeemRequest, redeem
from schema import rewards as schema_rewards
from tests.factories import make_member, make_reward
from tests.graphql_client import GraphQLClient, TenantSession

CATALOG = """query($first: Int, $after: String) {
  catalog(first: $first, after: $after) {
    nodes { reward { id name stock } canRedeem reason }
    pageInfo { hasNextPage endCursor }
  }
}"""
MEMBER_TOKEN = "mutation($id: ID!) { createMemberToken(memberId: $id) { token } }"
UPDATE_NAME = """mutation($id: ID!, $name: String!) {
  updateReward(id: $id, input: {name: $name}) { errors { code } } }"""
CREATE = """mutation($name: String!) {
  createReward(input: {name: $name, type: VOUCHER, pointCost: 10}) { reward { id } errors { code } }
}"""
ARCHIVE = "mutation($id: ID!) { archiveReward(id: $id) { errors { code } } }"
DELETE = "mutation($id: ID!) { deleteReward(id: $id) { errors { code } } }"
VIEW_FIELDS = """accounts { balance pending expiringSoon nextExpiryAt }"""
CATALOG_FIELDS = "nodes { reward { id stock } canRedeem reason availableAt }"
OWN_VIEW = f"{{ me {{ {VIEW_FIELDS} }} catalog {{ {CATALOG_FIELDS} }} }}"
BACKEND_VIEW = f"""query($m: ID!) {{
  member(id: $m) {{ {VIEW_FIELDS} }} catalog(memberId: $m) {{ {CATALOG_FIELDS} }} }}"""


async def _token(gql: GraphQLClient, tenant: TenantSession, member_id: UUID) -> str:
    body = await gql(MEMBER_TOKEN, {"id": str(member_id)}, tenant.api_key)
    token: str = body["data"]["createMemberToken"]["token"]
    return token


async def _catalog(gql: GraphQLClient, token: str, **variables: Any) -> dict[str, Any]:
    body = await gql(CATALOG, variables, token)
    assert "errors" not in body, body
    catalog: dict[str, Any] = body["data"]["catalog"]
    return catalog


async def _names(gql: GraphQLClient, token: str) -> dict[str, str]:
    return {n["reward"]["id"]: n["reward"]["name"] for n in (await _catalog(gql, token))["nodes"]}


async def test_an_admins_change_shows_in_the_cached_catalog_at_once(
    gql: GraphQLClient, tenant: TenantSession, following: None
) -> None:
    # given a member who has read the catalog once (the process keeps it)
    tenant_id = UUID(tenant.tenant_id)
    kept = await make_reward(tenant_id, name="Coffee")
    gone = await make_reward(tenant_id, name="Tea")
    member = await make_member(tenant_id, points=100)
    token = await _token(gql, tenant, member.id)
    assert await _names(gql, token) == {str(kept.id): "Coffee", str(gone.id): "Tea"}

    # then a row changed behind the engine's back is not seen: the catalog is from memory
    await Reward.filter(id=kept.id).update(name="Changed behind its back")
    assert (await _names(gql, token))[str(kept.id)] == "Coffee"

    # when the admin renames, adds, archives and deletes, each shows at once
    renamed = await gql(UPDATE_NAME, {"id": str(kept.id), "name": "Espresso"}, tenant.admin_token)
    assert renamed["data"]["updateReward"]["errors"] == [], renamed
    assert await _names(gql, token) == {str(kept.id): "Espresso", str(gone.id): "Tea"}

    created = await gql(CREATE, {"name": "Cake"}, tenant.admin_token)
    cake = created["data"]["createReward"]["reward"]["id"]
    assert (await _names(gql, token))[cake] == "Cake"

    archived = await gql(ARCHIVE, {"id": str(gone.id)}, tenant.admin_token)
    assert archived["data"]["archiveReward"]["errors"] == [], archived
    assert str(gone.id) not in await _names(gql, token)

    deleted = await gql(DELETE, {"id": cake}, tenant.admin_token)
    assert deleted["data"]["deleteReward"]["errors"] == [], deleted
    assert await _names(gql, token) == {str(kept.id): "Espresso"}


async def test_the_cached_catalog_shows_the_stock_as_it_is_now(
    gql: GraphQLClient, tenant: TenantSession, following: None
) -> None:
    # given a reward with two left, in a catalog the process keeps
    tenant_id = UUID(tenant.tenant_id)
    scarce = await make_reward(tenant_id, point_cost=10, stock=2)
    plenty = await make_reward(tenant_id, point_cost=10)
    member = await make_member(tenant_id, points=100)
    token = await _token(gql, tenant, member.id)
    before = {n["reward"]["id"]: n for n in (await _catalog(gql, token))["nodes"]}
    assert before[str(scarce.id)]["reward"]["stock"] == 2

    # when both are redeemed (no admin change: nothing is dropped from the cache)
    for _ in range(2):
        await redeem(RedeemRequest(tenant_id, member.id, scarce.id))

    # then the stock is the one now, and the member is told it ran out
    after = {n["reward"]["id"]: n for n in (await _catalog(gql, token))["nodes"]}
    assert after[str(scarce.id)] == {
        "reward": {"id": str(scarce.id), "name": scarce.name, "stock": 0},
        "canRedeem": False,
        "reason": "OUT_OF_STOCK",
    }
    assert after[str(plenty.id)]["reward"]["stock"] is None
    assert after[str(plenty.id)]["canRedeem"] is True


async def test_the_cached_catalogs_rewards_are_made_for_the_api_once_per_change(
    gql: GraphQLClient, tenant: TenantSession, following: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a catalog the process keeps: two rewards, one of them with a stock
    tenant_id = UUID(tenant.tenant_id)
    await make_reward(tenant_id, name="Coffee")
    stocked = await make_reward(tenant_id, name="Mug", stock=5)
    member = await make_member(tenant_id, points=100)
    token = await _token(gql, tenant, member.id)
    made: list[str] = []
    original = schema_rewards.Reward.from_model

    def counted(row: Reward) -> schema_rewards.Reward:
        made.append(row.name)
        return original(row)

    monkeypatch.setattr(schema_rewards.Reward, "from_model", counted)
    await _catalog(gql, token)  # the first read of it makes each reward's answer

    # when it is read again, then only the stocked reward is made anew (its stock is read
    # as it is now); the other's answer is the one made before
    made.clear()
    assert len((await _catalog(gql, token))["nodes"]) == 2
    assert made == ["Mug"]

    # and after a change every reward is made anew, with the change in it
    renamed = await gql(UPDATE_NAME, {"id": str(stocked.id), "name": "Cup"}, tenant.admin_token)
    assert renamed["data"]["updateReward"]["errors"] == [], renamed
    made.clear()
    assert sorted((await _names(gql, token)).values()) == ["Coffee", "Cup"]
    assert sorted(made) == ["Coffee", "Cup", "Cup"]  # the shared rows, then the stock's copy


@pytest.mark.parametrize("cached", [False, True], ids=["read", "cached"])
async def test_catalog_pages_follow_one_another_newest_first(
    gql: GraphQLClient, tenant: TenantSession, cached: bool
) -> None:
    # given five live rewards and an archived one
    cache.follow(cached)
    try:
        tenant_id = UUID(tenant.tenant_id)
        made = [await make_reward(tenant_id, name=f"R{n}") for n in range(5)]
        archived = await make_reward(tenant_id, name="Old")
        await gql(ARCHIVE, {"id": str(archived.id)}, tenant.admin_token)
        token = await _token(gql, tenant, (await make_member(tenant_id)).id)

        # when the widget pages two at a time
        seen, after, pages = [], None, 0
        while True:
            page = await _catalog(gql, token, first=2, after=after)
            seen += [n["reward"]["name"] for n in page["nodes"]]
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]

        # then it sees each live reward once, newest first, in three pages
        assert seen == [r.name for r in reversed(made)]
        assert pages == 3
        bad = await gql(CATALOG, {"first": 2, "after": "not-a-cursor"}, token)
        assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
        too_many = await gql(CATALOG, {"first": 101}, token)
        assert too_many["errors"][0]["extensions"]["code"] == "INVALID_PAGE_SIZE"
    finally:
        cache.follow(False)


@pytest.mark.parametrize("cached", [False, True], ids=["read", "cached"])
async def test_a_member_sees_itself_as_its_backend_sees_it(
    gql: GraphQLClient, tenant: TenantSession, cached: bool
) -> None:
    """A member token's own rows come in one read (models.members.own_state); a backend
    naming the member reads them one by one. Both views must agree."""
    cache.follow(cached)
    try:
        # given a member with pending points, points expiring soon, and rewards it used
        tenant_id = UUID(tenant.tenant_id)
        member = await make_member(tenant_id, points=1_000)
        now = clock.now()
        for amount, valid_from, valid_to in (
            (700, now + timedelta(days=3), None),
            (300, None, now + timedelta(days=10)),
        ):
            await award_points(
                AwardRequest(
                    tenant_id, member.id, None, amount, LedgerSource.PURCHASE,
                    valid_from=valid_from, valid_to=valid_to,
                )
            )  # fmt: skip
        once = await make_reward(tenant_id, point_cost=10, per_member_limit=1)
        daily = await make_reward(tenant_id, point_cost=10, cooldown_seconds=86_400)
        await make_reward(tenant_id, point_cost=5_000)
        await make_reward(tenant_id, point_cost=10, stock=3)
        for reward in (once, daily):
            await redeem(RedeemRequest(tenant_id, member.id, reward.id))
        token = await _token(gql, tenant, member.id)

        # when the member and its backend read the member's view
        own = await gql(OWN_VIEW, None, token)
        backend = await gql(BACKEND_VIEW, {"m": str(member.id)}, tenant.api_key)

        # then they agree, and say what the member has and may do
        assert "errors" not in own and "errors" not in backend, (own, backend)
        assert own["data"]["me"] == backend["data"]["member"]
        assert own["data"]["catalog"] == backend["data"]["catalog"]
        (account,) = own["data"]["me"]["accounts"]
        # (the 20 points redeemed were taken from those expiring first)
        assert (account["balance"], account["pending"], account["expiringSoon"]) == (
            1_280,
            700,
            280,
        )
        assert account["nextExpiryAt"] is not None
        reasons = {n["reward"]["id"]: n["reason"] for n in own["data"]["catalog"]["nodes"]}
        assert reasons[str(once.id)] == "LIMIT_REACHED"
        assert reasons[str(daily.id)] == "COOLDOWN"
        assert sorted(r or "" for r in reasons.values()) == [
            "",
            "COOLDOWN",
            "INSUFFICIENT_POINTS",
            "LIMIT_REACHED",
        ]
    finally:
        cache.follow(False)
