"""The admin's catalog over GraphQL: rewards, tiers, point currencies, members, redemptions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core import clock
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import RedemptionStatus
from tests.factories import make_member, make_reward
from tests.graphql_client import GraphQLClient, TenantSession

Body = dict[str, Any]

REWARD_FIELDS = """
id name description type value pointCost stock cooldownSeconds perMemberLimit
availableFrom availableUntil fulfillmentData imageUrl enabled archivedAt createdAt updatedAt
pointDefinition { id name } minTier { id name }
"""
CREATE_REWARD = f"""
mutation($input: RewardInput!) {{
  createReward(input: $input) {{ reward {{ {REWARD_FIELDS} }} errors {{ field code message }} }}
}}"""
UPDATE_REWARD = f"""
mutation($id: ID!, $input: RewardInput!) {{
  updateReward(id: $id, input: $input) {{ reward {{ {REWARD_FIELDS} }} errors {{ field code }} }}
}}"""
ARCHIVE_REWARD = """
mutation($id: ID!) { archiveReward(id: $id) { reward { id archivedAt enabled } errors { field code } } }"""
READ_REWARD = f"query($id: ID!) {{ reward(id: $id) {{ {REWARD_FIELDS} }} }}"
REWARDS = "query($all: Boolean!) { rewards(includeArchived: $all) { nodes { id name } } }"
CATALOG = "{ catalog { nodes { reward { id name } canRedeem reason } } }"
SAVE_TIER = """
mutation($input: TierInput!) { saveTier(input: $input) { tier { id name rank } errors { field code } } }"""
SAVE_DEFINITION = """
mutation($input: PointDefinitionInput!) {
  savePointDefinition(input: $input) {
    pointDefinition { id name description externalId isDefault } errors { field code }
  }
}"""
UPSERT = """
mutation($input: MemberInput!) {
  upsertMember(input: $input) {
    member { id externalUserId email name address tier { id name } } created errors { field code }
  }
}"""
MEMBER_TOKEN = "mutation($id: ID!) { createMemberToken(memberId: $id) { token } }"
REDEEM = """
mutation($r: ID!) { redeemReward(rewardId: $r) { redemption { id } errors { field code } } }"""


def _reward(body: Body, field: str = "createReward") -> dict[str, Any]:
    payload = body["data"][field]
    assert payload["errors"] == [], payload
    reward: dict[str, Any] = payload["reward"]
    return reward


async def _tier(gql: GraphQLClient, t: TenantSession, name: str, rank: int) -> dict[str, Any]:
    body = await gql(SAVE_TIER, {"input": {"name": name, "rank": rank}}, t.admin_token)
    assert body["data"]["saveTier"]["errors"] == [], body
    tier: dict[str, Any] = body["data"]["saveTier"]["tier"]
    return tier


async def _definition(gql: GraphQLClient, t: TenantSession, name: str) -> dict[str, Any]:
    body = await gql(SAVE_DEFINITION, {"input": {"name": name}}, t.admin_token)
    assert body["data"]["savePointDefinition"]["errors"] == [], body
    definition: dict[str, Any] = body["data"]["savePointDefinition"]["pointDefinition"]
    return definition


async def _member_token(gql: GraphQLClient, t: TenantSession, member_id: str) -> str:
    token: str = (await gql(MEMBER_TOKEN, {"id": member_id}, t.api_key))["data"][
        "createMemberToken"
    ]["token"]
    return token


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# ------------------------------------------------------------------------------ rewards


async def test_admin_creates_a_reward_with_every_field(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a tier and a second point currency
    gold = await _tier(gql, tenant, "Gold", 10)
    tokens = await _definition(gql, tenant, "tokens")
    opens = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    spec = {
        "name": "Weekend voucher",
        "description": "Two nights for two",
        "type": "VOUCHER",
        "value": "2500000",
        "pointCost": 1200,
        "pointDefinitionId": tokens["id"],
        "stock": 7,
        "minTierId": gold["id"],
        "cooldownSeconds": 3600,
        "perMemberLimit": 2,
        "availableFrom": opens.isoformat(),
        "availableUntil": (opens + timedelta(days=30)).isoformat(),
        "fulfillmentData": {"partner": "hotel-1", "codes": ["A", "B"], "nested": {"n": 1}},
        "imageUrl": "https://cdn.example.com/weekend.png",
        "enabled": False,
    }
    # when the admin creates it
    created = _reward(await gql(CREATE_REWARD, {"input": spec}, tenant.admin_token))
    # then every field reads back as given, now and on a later read
    again = (await gql(READ_REWARD, {"id": created["id"]}, tenant.api_key))["data"]["reward"]
    for reward in (created, again):
        for name in (
            "name",
            "description",
            "type",
            "value",
            "pointCost",
            "stock",
            "cooldownSeconds",
            "perMemberLimit",
            "fulfillmentData",
            "imageUrl",
            "enabled",
        ):
            assert reward[name] == spec[name], name
        assert _at(reward["availableFrom"]) == opens
        assert _at(reward["availableUntil"]) == opens + timedelta(days=30)
        assert reward["pointDefinition"] == {"id": tokens["id"], "name": "tokens"}
        assert reward["minTier"] == {"id": gold["id"], "name": "Gold"}
        assert reward["archivedAt"] is None
    assert again == created


async def test_window_given_without_zone_is_utc(gql: GraphQLClient, tenant: TenantSession) -> None:
    """A zone-less start next to a zoned end used to fail comparing them: a masked error."""
    # when the window's start has no zone and its end has one
    spec = {
        "name": "Spring",
        "type": "GIFT",
        "pointCost": 5,
        "availableFrom": "2030-03-01T09:00:00",
        "availableUntil": "2030-03-31T09:00:00+00:00",
    }
    reward = _reward(await gql(CREATE_REWARD, {"input": spec}, tenant.admin_token))
    # then the start is read as UTC
    assert reward["availableFrom"] == "2030-03-01T09:00:00+00:00"
    assert reward["availableUntil"] == "2030-03-31T09:00:00+00:00"


async def test_minimal_reward_gets_the_defaults(gql: GraphQLClient, tenant: TenantSession) -> None:
    # when the admin gives only what is required
    spec = {"name": "Sticker", "type": "GIFT", "pointCost": 0}
    reward = _reward(await gql(CREATE_REWARD, {"input": spec}, tenant.admin_token))
    # then the rest is: the default currency, unlimited, ungated, always available, enabled
    assert reward["pointDefinition"]["name"] == "points"
    assert (reward["stock"], reward["minTier"], reward["availableFrom"]) == (None, None, None)
    assert (reward["description"], reward["value"], reward["enabled"]) == ("", "", True)


async def test_admin_updates_only_the_given_fields(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a gated, limited reward
    gold = await _tier(gql, tenant, "Gold", 10)
    spec = {
        "name": "Mug",
        "type": "PHYSICAL",
        "pointCost": 300,
        "stock": 3,
        "minTierId": gold["id"],
        "description": "A mug",
        "fulfillmentData": {"sku": "M-1"},
    }
    created = _reward(await gql(CREATE_REWARD, {"input": spec}, tenant.admin_token))
    clock.advance(timedelta(minutes=5))
    # when the admin renames it, makes it unlimited, ungated, and changes its data
    change = {
        "name": "Big mug",
        "stock": None,
        "minTierId": None,
        "fulfillmentData": {"sku": "M-2"},
    }
    updated = _reward(
        await gql(UPDATE_REWARD, {"id": created["id"], "input": change}, tenant.admin_token),
        "updateReward",
    )
    # then those fields changed, the others did not
    assert (updated["name"], updated["stock"], updated["minTier"]) == ("Big mug", None, None)
    assert updated["fulfillmentData"] == {"sku": "M-2"}
    unchanged = ("id", "type", "pointCost", "description", "createdAt", "pointDefinition")
    assert {k: updated[k] for k in unchanged} == {k: created[k] for k in unchanged}
    assert _at(updated["updatedAt"]) > _at(created["updatedAt"])  # type: ignore[operator]


async def test_archived_reward_leaves_the_catalog_but_stays_on_old_redemptions(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a member who redeemed a reward, and another reward that stays
    tenant_id = uuid.UUID(tenant.tenant_id)
    retired = _reward(
        await gql(
            CREATE_REWARD,
            {"input": {"name": "Old mug", "type": "GIFT", "pointCost": 10}},
            tenant.admin_token,
        )
    )
    await make_reward(tenant_id, name="Stays")
    member = await make_member(tenant_id, points=100)
    token = await _member_token(gql, tenant, str(member.id))
    redeemed = await gql(REDEEM, {"r": retired["id"]}, token)
    redemption_id = redeemed["data"]["redeemReward"]["redemption"]["id"]

    # when the admin archives it (twice: the second is a no-op)
    first = await gql(ARCHIVE_REWARD, {"id": retired["id"]}, tenant.admin_token)
    second = await gql(ARCHIVE_REWARD, {"id": retired["id"]}, tenant.admin_token)

    # then it is archived and disabled, once
    archived = first["data"]["archiveReward"]["reward"]
    assert archived["archivedAt"] is not None and archived["enabled"] is False
    assert second["data"]["archiveReward"]["reward"] == archived
    # and it is gone from the catalog (member and backend) and the default reward list
    for credential in (token, tenant.api_key):
        names = [
            n["reward"]["name"]
            for n in (await gql(CATALOG, token=credential))["data"]["catalog"]["nodes"]
        ]
        assert names == ["Stays"]
    listed = await gql(REWARDS, {"all": False}, tenant.admin_token)
    assert [n["name"] for n in listed["data"]["rewards"]["nodes"]] == ["Stays"]
    everything = await gql(REWARDS, {"all": True}, tenant.admin_token)
    assert {n["name"] for n in everything["data"]["rewards"]["nodes"]} == {"Stays", "Old mug"}
    # and members cannot open it, while the admin can
    assert (await gql(READ_REWARD, {"id": retired["id"]}, token))["data"]["reward"] is None
    by_admin = await gql(READ_REWARD, {"id": retired["id"]}, tenant.admin_token)
    assert by_admin["data"]["reward"]["archivedAt"] == archived["archivedAt"]
    # and the old redemption still shows it, to the admin and to the member
    old = "query($id: ID!) { redemption(id: $id) { pointsSpent reward { name archivedAt } } }"
    for credential in (tenant.admin_token, token):
        body = await gql(old, {"id": redemption_id}, credential)
        assert body["data"]["redemption"] == {
            "pointsSpent": 10,
            "reward": {"name": "Old mug", "archivedAt": archived["archivedAt"]},
        }
    # and it can be neither changed nor redeemed
    update = await gql(
        UPDATE_REWARD, {"id": retired["id"], "input": {"name": "x"}}, tenant.admin_token
    )
    assert update["data"]["updateReward"]["errors"] == [{"field": "id", "code": "ARCHIVED"}]
    again = await gql(REDEEM, {"r": retired["id"]}, token)
    assert again["data"]["redeemReward"]["errors"][0]["code"] == "NOT_AVAILABLE"


async def test_window_and_tier_gate_show_in_the_catalog(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward not open yet (given without a zone: UTC), one gated on Gold,
    # and one open now
    gold = await _tier(gql, tenant, "Gold", 10)
    later = (clock.now() + timedelta(days=2)).replace(tzinfo=None, microsecond=0)
    for spec in (
        {"name": "Soon", "type": "GIFT", "pointCost": 1, "availableFrom": later.isoformat()},
        {"name": "Gold only", "type": "GIFT", "pointCost": 1, "minTierId": gold["id"]},
        {
            "name": "Open",
            "type": "GIFT",
            "pointCost": 1,
            "availableUntil": (clock.now() + timedelta(days=1)).isoformat(),
        },
    ):
        _reward(await gql(CREATE_REWARD, {"input": spec}, tenant.admin_token))
    member = await make_member(uuid.UUID(tenant.tenant_id), points=10)
    token = await _member_token(gql, tenant, str(member.id))
    # when the member reads the catalog, now and after the window opened
    before = await gql(CATALOG, token=token)
    clock.advance(timedelta(days=3))
    # (the backend asks for the member: tokens minted on a moved clock are refused, see
    # core.security.read_token, which lets pyjwt check `iat` against the wall clock)
    after = await gql(
        "query($m: ID) { catalog(memberId: $m) { nodes { reward { id name } canRedeem reason } } }",
        {"m": str(member.id)},
        tenant.api_key,
    )

    # then the reasons say why not
    def reasons(body: Body) -> dict[str, str | None]:
        return {n["reward"]["name"]: n["reason"] for n in body["data"]["catalog"]["nodes"]}

    assert reasons(before) == {"Soon": "NOT_AVAILABLE", "Gold only": "TIER_REQUIRED", "Open": None}
    assert reasons(after) == {"Soon": None, "Gold only": "TIER_REQUIRED", "Open": "NOT_AVAILABLE"}


INVALID_REWARDS: list[tuple[str, dict[str, Any], list[dict[str, str]]]] = [
    ("missing name", {"type": "GIFT", "pointCost": 1}, [{"field": "name", "code": "REQUIRED"}]),
    (
        "blank name",
        {"name": "  ", "type": "GIFT", "pointCost": 1},
        [{"field": "name", "code": "REQUIRED"}],
    ),
    ("missing type", {"name": "x", "pointCost": 1}, [{"field": "type", "code": "REQUIRED"}]),
    ("missing cost", {"name": "x", "type": "GIFT"}, [{"field": "pointCost", "code": "REQUIRED"}]),
    (
        "negative cost",
        {"name": "x", "type": "GIFT", "pointCost": -1},
        [{"field": "pointCost", "code": "INVALID"}],
    ),
    (
        "negative stock",
        {"name": "x", "type": "GIFT", "pointCost": 1, "stock": -1},
        [{"field": "stock", "code": "INVALID"}],
    ),
    (
        "negative cooldown",
        {"name": "x", "type": "GIFT", "pointCost": 1, "cooldownSeconds": -5},
        [{"field": "cooldownSeconds", "code": "INVALID"}],
    ),
    (
        "zero limit",
        {"name": "x", "type": "GIFT", "pointCost": 1, "perMemberLimit": 0},
        [{"field": "perMemberLimit", "code": "INVALID"}],
    ),
    (
        "unknown tier",
        {"name": "x", "type": "GIFT", "pointCost": 1, "minTierId": str(uuid.uuid4())},
        [{"field": "minTierId", "code": "NOT_FOUND"}],
    ),
    (
        "malformed tier id",
        {"name": "x", "type": "GIFT", "pointCost": 1, "minTierId": "gold"},
        [{"field": "minTierId", "code": "NOT_FOUND"}],
    ),
    (
        "unknown currency",
        {"name": "x", "type": "GIFT", "pointCost": 1, "pointDefinitionId": str(uuid.uuid4())},
        [{"field": "pointDefinitionId", "code": "NOT_FOUND"}],
    ),
    (
        "window backwards",
        {
            "name": "x",
            "type": "GIFT",
            "pointCost": 1,
            "availableFrom": "2030-02-01T00:00:00Z",
            "availableUntil": "2030-01-01T00:00:00Z",
        },
        [{"field": "availableUntil", "code": "INVALID"}],
    ),
    (
        "image not http",
        {"name": "x", "type": "GIFT", "pointCost": 1, "imageUrl": "javascript:alert(1)"},
        [{"field": "imageUrl", "code": "INVALID"}],
    ),
    (
        "fulfilment data not an object",
        {"name": "x", "type": "GIFT", "pointCost": 1, "fulfillmentData": ["a", "b"]},
        [{"field": "fulfillmentData", "code": "INVALID"}],
    ),
    (
        "name too long",
        {"name": "x" * 201, "type": "GIFT", "pointCost": 1},
        [{"field": "name", "code": "INVALID"}],
    ),
    (  # the code the REST endpoints send for it too, no longer hidden as INVALID
        "description too long",
        {"name": "x", "type": "GIFT", "pointCost": 1, "description": "d" * 10_001},
        [{"field": "description", "code": "TOO_LONG"}],
    ),
]


@pytest.mark.parametrize(
    ("case", "spec", "errors"), INVALID_REWARDS, ids=[c[0] for c in INVALID_REWARDS]
)
async def test_invalid_reward_is_refused_field_by_field(
    gql: GraphQLClient,
    tenant: TenantSession,
    case: str,
    spec: dict[str, Any],
    errors: list[dict[str, str]],
) -> None:
    # when the admin creates an invalid reward
    body = await gql(CREATE_REWARD, {"input": spec}, tenant.admin_token)
    # then the error names the field and the problem, and nothing was created
    payload = body["data"]["createReward"]
    assert [{"field": e["field"], "code": e["code"]} for e in payload["errors"]] == errors
    assert payload["reward"] is None
    listed = await gql(REWARDS, {"all": True}, tenant.admin_token)
    assert listed["data"]["rewards"]["nodes"] == []


INVALID_UPDATES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("null name", {"name": None}, {"field": "name", "code": "REQUIRED"}),
    ("null cost", {"pointCost": None}, {"field": "pointCost", "code": "REQUIRED"}),
    ("negative cost", {"pointCost": -10}, {"field": "pointCost", "code": "INVALID"}),
    ("unknown tier", {"minTierId": str(uuid.uuid4())}, {"field": "minTierId", "code": "NOT_FOUND"}),
    (
        "until before existing from",
        {"availableUntil": "2029-12-31T00:00:00Z"},
        {"field": "availableUntil", "code": "INVALID"},
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "error"), INVALID_UPDATES, ids=[c[0] for c in INVALID_UPDATES]
)
async def test_invalid_update_changes_nothing(
    gql: GraphQLClient,
    tenant: TenantSession,
    case: str,
    change: dict[str, Any],
    error: dict[str, str],
) -> None:
    # given a reward open from 2030
    spec = {"name": "Cap", "type": "GIFT", "pointCost": 40, "availableFrom": "2030-01-01T00:00:00Z"}
    created = _reward(await gql(CREATE_REWARD, {"input": spec}, tenant.admin_token))
    # when an invalid change is made
    body = await gql(UPDATE_REWARD, {"id": created["id"], "input": change}, tenant.admin_token)
    # then it is refused with the field, and the reward is as it was
    assert body["data"]["updateReward"] == {"reward": None, "errors": [error]}
    assert (await gql(READ_REWARD, {"id": created["id"]}, tenant.admin_token))["data"][
        "reward"
    ] == created


async def test_unknown_reward_is_not_found(gql: GraphQLClient, tenant: TenantSession) -> None:
    # when the admin updates or archives a reward that does not exist
    ghost = str(uuid.uuid4())
    update = await gql(UPDATE_REWARD, {"id": ghost, "input": {"name": "x"}}, tenant.admin_token)
    archive = await gql(ARCHIVE_REWARD, {"id": "not-an-id"}, tenant.admin_token)
    # then
    assert update["data"]["updateReward"] == {
        "reward": None,
        "errors": [{"field": "id", "code": "NOT_FOUND"}],
    }
    assert archive["data"]["archiveReward"] == {
        "reward": None,
        "errors": [{"field": "id", "code": "NOT_FOUND"}],
    }


# ---------------------------------------------------------------- tiers and currencies

TIERS = "{ tiers { id name rank } }"


async def test_tiers_are_saved_renamed_listed_and_deleted(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given two tiers
    gold = await _tier(gql, tenant, "Gold", 20)
    silver = await _tier(gql, tenant, "Silver", 10)
    # when one is renamed and re-ranked, and a duplicate name is tried
    renamed = await gql(
        SAVE_TIER, {"input": {"id": gold["id"], "name": "Platinum", "rank": 30}}, tenant.admin_token
    )
    duplicate = await gql(SAVE_TIER, {"input": {"name": "Silver", "rank": 5}}, tenant.admin_token)
    blank = await gql(SAVE_TIER, {"input": {"name": " ", "rank": 5}}, tenant.admin_token)
    # then the tier keeps its id, the list is ordered by rank, and the mistakes are named
    assert renamed["data"]["saveTier"]["tier"] == {"id": gold["id"], "name": "Platinum", "rank": 30}
    assert duplicate["data"]["saveTier"] == {
        "tier": None,
        "errors": [{"field": "name", "code": "DUPLICATE"}],
    }
    assert blank["data"]["saveTier"] == {
        "tier": None,
        "errors": [{"field": "name", "code": "REQUIRED"}],
    }
    listed = (await gql(TIERS, token=tenant.api_key))["data"]["tiers"]
    assert listed == [silver, {"id": gold["id"], "name": "Platinum", "rank": 30}]


async def test_deleting_a_tier_ungates_rewards_and_untiers_members(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward gated on Gold and a Gold member
    gold = await _tier(gql, tenant, "Gold", 20)
    reward = _reward(
        await gql(
            CREATE_REWARD,
            {"input": {"name": "Lounge", "type": "GIFT", "pointCost": 1, "minTierId": gold["id"]}},
            tenant.admin_token,
        )
    )
    upserted = await gql(
        UPSERT, {"input": {"externalUserId": "u-1", "tierId": gold["id"]}}, tenant.api_key
    )
    member_id = upserted["data"]["upsertMember"]["member"]["id"]
    delete = "mutation($id: ID!) { deleteTier(id: $id) { deleted errors { field code } } }"
    # when the tier is deleted, and deleted again
    first = await gql(delete, {"id": gold["id"]}, tenant.admin_token)
    second = await gql(delete, {"id": gold["id"]}, tenant.admin_token)
    # then
    assert first["data"]["deleteTier"] == {"deleted": True, "errors": []}
    assert second["data"]["deleteTier"] == {
        "deleted": False,
        "errors": [{"field": "id", "code": "NOT_FOUND"}],
    }
    assert (await gql(TIERS, token=tenant.api_key))["data"]["tiers"] == []
    read = await gql(
        "query($r: ID!, $m: ID) { reward(id: $r) { minTier { id } } member(id: $m) { tier { id } } }",
        {"r": reward["id"], "m": member_id},
        tenant.admin_token,
    )
    assert read["data"] == {"reward": {"minTier": None}, "member": {"tier": None}}


DEFINITIONS = "{ pointDefinitions { name externalId isDefault } }"


async def test_point_definitions_get_the_next_external_id(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given the tenant's default currency "points" (externalId 1)
    # when the admin adds two currencies and renames the first
    tokens = await _definition(gql, tenant, "tokens")
    stars = await _definition(gql, tenant, "stars")
    renamed = await gql(
        SAVE_DEFINITION,
        {"input": {"id": tokens["id"], "name": "coins", "description": "Shop coins"}},
        tenant.admin_token,
    )
    duplicate = await gql(SAVE_DEFINITION, {"input": {"name": "stars"}}, tenant.admin_token)
    blank = await gql(SAVE_DEFINITION, {"input": {"name": ""}}, tenant.admin_token)
    unknown = await gql(
        SAVE_DEFINITION, {"input": {"id": str(uuid.uuid4()), "name": "x"}}, tenant.admin_token
    )
    # then they are numbered 2 and 3, a rename keeps the number, and mistakes are named
    assert (tokens["externalId"], stars["externalId"]) == (2, 3)
    assert tokens["isDefault"] is False and stars["isDefault"] is False
    assert renamed["data"]["savePointDefinition"]["pointDefinition"] == {
        "id": tokens["id"],
        "name": "coins",
        "description": "Shop coins",
        "externalId": 2,
        "isDefault": False,
    }
    for body, error in (
        (duplicate, {"field": "name", "code": "DUPLICATE"}),
        (blank, {"field": "name", "code": "REQUIRED"}),
        (unknown, {"field": "id", "code": "NOT_FOUND"}),
    ):
        assert body["data"]["savePointDefinition"] == {"pointDefinition": None, "errors": [error]}
    listed = (await gql(DEFINITIONS, token=tenant.api_key))["data"]["pointDefinitions"]
    assert listed == [
        {"name": "points", "externalId": 1, "isDefault": True},
        {"name": "coins", "externalId": 2, "isDefault": False},
        {"name": "stars", "externalId": 3, "isDefault": False},
    ]


# ------------------------------------------------------------------------------ members


async def test_upsert_member_twice_updates_rather_than_duplicates(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a tier
    gold = await _tier(gql, tenant, "Gold", 20)
    # when the backend upserts the same external id twice, the second time partially
    first = await gql(
        UPSERT,
        {
            "input": {
                "externalUserId": "shop-7",
                "email": "a@shop.test",
                "name": "Ann",
                "address": {"city": "Hanoi"},
            }
        },
        tenant.api_key,
    )
    second = await gql(
        UPSERT,
        {"input": {"externalUserId": "shop-7", "email": "ann@shop.test", "tierId": gold["id"]}},
        tenant.api_key,
    )
    # then the first created, the second updated the same member, keeping what it left out
    one, two = first["data"]["upsertMember"], second["data"]["upsertMember"]
    assert (one["created"], two["created"]) == (True, False)
    assert one["errors"] == [] and two["errors"] == []
    assert two["member"] == {
        "id": one["member"]["id"],
        "externalUserId": "shop-7",
        "email": "ann@shop.test",
        "name": "Ann",
        "address": {"city": "Hanoi"},
        "tier": {"id": gold["id"], "name": "Gold"},
    }
    members = await gql("{ members { nodes { id externalUserId } } }", token=tenant.api_key)
    assert members["data"]["members"]["nodes"] == [
        {"id": one["member"]["id"], "externalUserId": "shop-7"}
    ]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"externalUserId": " "}, {"field": "externalUserId", "code": "INVALID"}),
        ({"externalUserId": "u", "email": "not-an-email"}, {"field": "email", "code": "INVALID"}),
        (
            {"externalUserId": "u", "tierId": str(uuid.uuid4())},
            {"field": "tierId", "code": "NOT_FOUND"},
        ),
        (
            {"externalUserId": "u", "address": "Main street"},
            {"field": "address", "code": "INVALID"},
        ),
    ],
    ids=["blank-id", "email", "tier", "address"],
)
async def test_invalid_member_is_refused(
    gql: GraphQLClient, tenant: TenantSession, spec: dict[str, Any], error: dict[str, str]
) -> None:
    # when
    body = await gql(UPSERT, {"input": spec}, tenant.api_key)
    # then
    assert body["data"]["upsertMember"] == {"member": None, "created": False, "errors": [error]}
    assert (await gql("{ members { nodes { id } } }", token=tenant.api_key))["data"]["members"][
        "nodes"
    ] == []


# ------------------------------------------------------------------------- redemptions

REDEMPTIONS = """
query($filter: RedemptionFilter) {
  redemptions(filter: $filter) { nodes { id status createdAt member { id } reward { id } } }
}"""


async def test_redemptions_filter_newest_first(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given two members redeeming two rewards, an hour apart, left in several statuses

    tenant_id = uuid.UUID(tenant.tenant_id)
    mug, cap = (
        await make_reward(tenant_id, point_cost=1),
        await make_reward(tenant_id, point_cost=1),
    )
    ann, bob = await make_member(tenant_id, points=10), await make_member(tenant_id, points=10)
    start = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
    plan = [
        (ann, mug, "REDEEMED"),
        (bob, mug, "FULFILLED"),
        (ann, cap, "FAILED"),
        (bob, cap, "POSTPONED"),
        (ann, mug, "FULFILLED"),
        (bob, mug, "REDEEMED"),
    ]
    made: list[dict[str, Any]] = []
    with clock.frozen_at(start):
        for hour, (member, reward, status) in enumerate(plan):
            clock.advance(timedelta(hours=1) if hour else timedelta(0))
            done = await redeem(RedeemRequest(tenant_id, member.id, reward.id))
            if status != "REDEEMED":
                via = Via.CALLBACK if status == "POSTPONED" else Via.ADMIN
                await transition(tenant_id, done.id, RedemptionStatus(status), via, actor="test")
            made.append(
                {
                    "id": str(done.id),
                    "member": str(member.id),
                    "reward": str(reward.id),
                    "status": status,
                    "at": clock.now(),
                }
            )

    def expected(keep: Callable[[dict[str, Any]], bool]) -> list[str]:
        return [m["id"] for m in reversed(made) if keep(m)]

    at = start + timedelta(hours=2)
    cases: list[tuple[dict[str, Any] | None, list[str]]] = [
        (None, expected(lambda m: True)),
        ({"status": ["FULFILLED"]}, expected(lambda m: m["status"] == "FULFILLED")),
        (
            {"status": ["REDEEMED", "POSTPONED"]},
            expected(lambda m: m["status"] in ("REDEEMED", "POSTPONED")),
        ),
        ({"memberId": str(ann.id)}, expected(lambda m: m["member"] == str(ann.id))),
        ({"rewardId": str(cap.id)}, expected(lambda m: m["reward"] == str(cap.id))),
        ({"createdAfter": at.isoformat()}, expected(lambda m: m["at"] >= at)),
        ({"createdBefore": at.isoformat()}, expected(lambda m: m["at"] < at)),
        (
            {
                "createdAfter": start.isoformat(),
                "createdBefore": at.isoformat(),
                "memberId": str(bob.id),
                "rewardId": str(mug.id),
                "status": ["FULFILLED"],
            },
            [made[1]["id"]],
        ),
        ({"memberId": str(ann.id), "status": ["POSTPONED"]}, []),
    ]
    for filter_, ids in cases:
        # when the admin filters
        body = await gql(REDEMPTIONS, {"filter": filter_}, tenant.admin_token)
        # then exactly the matching redemptions come back, newest first
        assert "errors" not in body, (filter_, body)
        nodes = body["data"]["redemptions"]["nodes"]
        assert [n["id"] for n in nodes] == ids, filter_
        assert all(n["status"] in (filter_ or {}).get("status", [n["status"]]) for n in nodes)


async def test_catalog_says_when_a_waiting_member_may_redeem(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward with a day's cooldown the member just redeemed, one opening in two
    # days, one gated on a tier, and one closed for good
    tenant_id = uuid.UUID(tenant.tenant_id)
    gold = await _tier(gql, tenant, "Gold", 10)
    opens = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    daily = await make_reward(tenant_id, name="Daily", point_cost=1, cooldown_seconds=86_400)
    await make_reward(tenant_id, name="Soon", point_cost=1, available_from=opens)
    await make_reward(tenant_id, name="Gold only", point_cost=1, min_tier_id=uuid.UUID(gold["id"]))
    await make_reward(
        tenant_id, name="Over", point_cost=1, available_until=clock.now() - timedelta(days=1)
    )
    member = await make_member(tenant_id, points=10)
    redeemed = await redeem(RedeemRequest(tenant_id, member.id, daily.id))
    token = await _member_token(gql, tenant, str(member.id))
    # when the member reads the catalog
    body = await gql("{ catalog { nodes { reward { name } reason availableAt } } }", token=token)
    # then a cooldown and a window not open yet say when; the others cannot be waited out
    seen = {
        n["reward"]["name"]: (n["reason"], n["availableAt"])
        for n in body["data"]["catalog"]["nodes"]
    }
    back = redeemed.created_at + timedelta(days=1)
    assert seen == {
        "Daily": ("COOLDOWN", back.isoformat()),
        "Soon": ("NOT_AVAILABLE", opens.isoformat()),
        "Gold only": ("TIER_REQUIRED", None),
        "Over": ("NOT_AVAILABLE", None),
    }


async def test_a_reward_never_redeemed_is_deleted_a_redeemed_one_only_archived(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward made by mistake and one a member redeemed
    tenant_id = uuid.UUID(tenant.tenant_id)
    mistake = await make_reward(tenant_id, name="Typo")
    kept = await make_reward(tenant_id, name="Coffee", point_cost=10)
    member = await make_member(tenant_id, points=10)
    await redeem(RedeemRequest(tenant_id, member.id, kept.id))
    delete = (
        "mutation($id: ID!) { deleteReward(id: $id) { deleted errors { field code message } } }"
    )
    # when the admin deletes both
    deleted = await gql(delete, {"id": str(mistake.id)}, tenant.admin_token)
    refused = await gql(delete, {"id": str(kept.id)}, tenant.admin_token)
    listed = await gql(
        "{ rewards(includeArchived: true) { nodes { name } } }", token=tenant.admin_token
    )
    # then the mistake is gone; the redeemed one stays, with the way out said
    assert deleted["data"]["deleteReward"] == {"deleted": True, "errors": []}
    assert refused["data"]["deleteReward"]["deleted"] is False
    (error,) = refused["data"]["deleteReward"]["errors"]
    assert (error["field"], error["code"]) == ("id", "HAS_REDEMPTIONS")
    assert "archive" in error["message"]
    assert [n["name"] for n in listed["data"]["rewards"]["nodes"]] == ["Coffee"]
