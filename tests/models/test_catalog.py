"""The reward catalog as a tenant admin edits it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core import clock
from core.errors import InvalidInput, NotFound
from models.catalog.rewards import (
    RewardFields,
    archive_reward,
    create_reward,
    get_reward,
    update_reward,
)
from models.catalog.tables import Reward, RewardType
from models.members.upserts import save_point_definition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption
from tests.factories import make_member, make_reward, make_tenant, make_tier

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

VALID: dict[str, Any] = {"name": "Coffee", "type": RewardType.VOUCHER, "point_cost": 100}


async def test_a_reward_is_created_with_the_default_currency(db: str) -> None:
    # given
    t = await make_tenant()
    # when
    reward = await create_reward(
        t.tenant.id,
        RewardFields(
            name="Free coffee",
            type="VOUCHER",
            point_cost=150,
            stock=10,
            value="5 EUR",
            fulfillment_data={"sku": "COF-1"},
            image_url="https://cdn.shop.test/coffee.png",
        ),
    )
    # then
    stored = await get_reward(t.tenant.id, reward.id)
    assert (stored.name, stored.type, stored.point_cost, stored.stock) == (
        "Free coffee",
        RewardType.VOUCHER,
        150,
        10,
    )
    assert stored.definition_id == t.definition.id
    assert stored.fulfillment_data == {"sku": "COF-1"}
    assert stored.enabled and stored.archived_at is None


@pytest.mark.parametrize("missing", ["name", "type", "point_cost"])
async def test_a_reward_needs_name_type_and_cost(db: str, missing: str) -> None:
    # given
    t = await make_tenant()
    spec = {k: v for k, v in VALID.items() if k != missing}
    # when
    with pytest.raises(InvalidInput) as exc:
        await create_reward(t.tenant.id, RewardFields(**spec))
    # then
    assert (exc.value.field, exc.value.code) == (
        {"name": "name", "type": "type", "point_cost": "pointCost"}[missing],
        "REQUIRED",
    )
    assert await Reward.all().count() == 0


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"name": "   "}, "name", "REQUIRED"),
        ({"point_cost": -1}, "pointCost", "INVALID"),
        ({"stock": -1}, "stock", "INVALID"),
        ({"cooldown_seconds": -1}, "cooldownSeconds", "INVALID"),
        ({"per_member_limit": 0}, "perMemberLimit", "INVALID"),
        ({"type": "TELEPORT"}, "type", "INVALID"),
        ({"enabled": None}, "enabled", "REQUIRED"),
        ({"name": "n" * 201}, "name", "INVALID"),
        ({"value": "v" * 101}, "value", "INVALID"),
        ({"image_url": "javascript:alert(1)"}, "imageUrl", "INVALID"),
        ({"image_url": "https://"}, "imageUrl", "INVALID"),
        ({"fulfillment_data": ["not", "an", "object"]}, "fulfillmentData", "INVALID"),
        ({"available_from": T0 + DAY, "available_until": T0 + DAY}, "availableUntil", "INVALID"),
        ({"available_from": T0 + DAY, "available_until": T0}, "availableUntil", "INVALID"),
    ],
    ids=[
        "blank-name",
        "negative-cost",
        "negative-stock",
        "negative-cooldown",
        "zero-limit",
        "unknown-type",
        "null-enabled",
        "long-name",
        "long-value",
        "script-image-url",
        "hostless-image-url",
        "list-fulfillment-data",
        "empty-window",
        "inverted-window",
    ],
)
async def test_invalid_rewards_are_refused_naming_the_field(
    db: str, fields: dict[str, Any], field: str, code: str
) -> None:
    # given
    t = await make_tenant()
    # when
    with pytest.raises(InvalidInput) as exc:
        await create_reward(t.tenant.id, RewardFields(**{**VALID, **fields}))
    # then
    assert (exc.value.field, exc.value.code) == (field, code)
    assert await Reward.all().count() == 0


async def test_zero_cost_and_zero_stock_are_allowed(db: str) -> None:
    # given
    t = await make_tenant()
    # when
    reward = await create_reward(
        t.tenant.id, RewardFields(**{**VALID, "point_cost": 0, "stock": 0})
    )
    # then
    assert (reward.point_cost, reward.stock) == (0, 0)


async def test_a_tier_or_currency_of_another_tenant_is_not_found(db: str) -> None:
    # given
    t = await make_tenant()
    other = await make_tenant()
    foreign_tier = await make_tier(other.tenant.id, "Gold", 2)
    # when
    with pytest.raises(NotFound) as tier_exc:
        await create_reward(t.tenant.id, RewardFields(**VALID, min_tier_id=foreign_tier.id))
    with pytest.raises(NotFound) as definition_exc:
        await create_reward(t.tenant.id, RewardFields(**VALID, definition_id=other.definition.id))
    # then
    assert tier_exc.value.field == "minTierId"
    assert definition_exc.value.field == "definitionId"
    assert await Reward.all().count() == 0


async def test_an_update_changes_only_the_given_fields(db: str) -> None:
    # given
    t = await make_tenant()
    tokens = await save_point_definition(t.tenant.id, None, "tokens")
    gold = await make_tier(t.tenant.id, "Gold", 2)
    reward = await make_reward(t.tenant.id, name="Mug", point_cost=300, stock=4, value="1 mug")
    # when
    updated = await update_reward(
        t.tenant.id,
        reward.id,
        RewardFields(point_cost=250, stock=9, min_tier_id=gold.id, definition_id=tokens.id),
    )
    # then
    stored = await get_reward(t.tenant.id, reward.id)
    for current in (updated, stored):
        assert (current.name, current.value, current.point_cost, current.stock) == (
            "Mug",
            "1 mug",
            250,
            9,
        )
        assert (current.min_tier_id, current.definition_id) == (gold.id, tokens.id)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"type": None}, "type"),
        ({"point_cost": None}, "pointCost"),
        ({"enabled": None}, "enabled"),
        ({"stock": -2}, "stock"),
        ({"type": "TELEPORT"}, "type"),
        ({"name": "n" * 201}, "name"),
        ({"available_from": T0 + 3 * DAY}, "availableUntil"),
        ({"available_until": T0 - DAY}, "availableUntil"),
    ],
    ids=[
        "null-name",
        "blank-name",
        "null-type",
        "null-cost",
        "null-enabled",
        "negative-stock",
        "unknown-type",
        "long-name",
        "from-after-existing-until",
        "until-before-existing-from",
    ],
)
async def test_an_invalid_update_is_refused_and_changes_nothing(
    db: str, fields: dict[str, Any], field: str
) -> None:
    # given
    t = await make_tenant()
    reward = await make_reward(
        t.tenant.id, point_cost=300, stock=4, available_from=T0, available_until=T0 + 2 * DAY
    )
    before = await Reward.get(id=reward.id).values()
    # when
    with pytest.raises(InvalidInput) as exc:
        await update_reward(t.tenant.id, reward.id, RewardFields(**fields))
    # then
    assert exc.value.field == field
    assert await Reward.get(id=reward.id).values() == before


async def test_clearing_the_value_and_description_leaves_them_empty(db: str) -> None:
    # given
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, value="5 EUR", description="A mug")
    # when
    await update_reward(t.tenant.id, reward.id, RewardFields(value=None, description=None))
    # then
    stored = await get_reward(t.tenant.id, reward.id)
    assert (stored.value, stored.description) == ("", "")


async def test_an_update_with_a_foreign_tier_is_not_found(db: str) -> None:
    # given
    t = await make_tenant()
    other = await make_tenant()
    foreign_tier = await make_tier(other.tenant.id, "Gold", 2)
    reward = await make_reward(t.tenant.id)
    # when
    with pytest.raises(NotFound) as exc:
        await update_reward(t.tenant.id, reward.id, RewardFields(min_tier_id=foreign_tier.id))
    # then
    assert exc.value.field == "minTierId"
    assert (await Reward.get(id=reward.id)).min_tier_id is None


async def test_another_tenant_cannot_read_update_or_archive_a_reward(db: str) -> None:
    # given
    t = await make_tenant()
    other = await make_tenant()
    reward = await make_reward(t.tenant.id, name="Mug")
    # when / then
    with pytest.raises(NotFound):
        await get_reward(other.tenant.id, reward.id)
    with pytest.raises(NotFound):
        await update_reward(other.tenant.id, reward.id, RewardFields(name="Stolen"))
    with pytest.raises(NotFound):
        await archive_reward(other.tenant.id, reward.id)
    stored = await Reward.get(id=reward.id)
    assert (stored.name, stored.archived_at) == ("Mug", None)


async def test_an_archived_reward_stays_readable_but_cannot_change(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=100)
    reward = await make_reward(t.tenant.id, name="Mug", point_cost=100)
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    # when
    with clock.frozen_at(T0):
        archived = await archive_reward(t.tenant.id, reward.id)
    # then
    assert archived.archived_at == T0
    assert not archived.enabled
    stored = await get_reward(t.tenant.id, reward.id)
    assert (stored.name, stored.archived_at) == ("Mug", T0)
    old = await Redemption.get(id=redemption.id).prefetch_related("reward")
    assert old.reward.name == "Mug"
    with pytest.raises(InvalidInput) as exc:
        await update_reward(t.tenant.id, reward.id, RewardFields(enabled=True))
    assert exc.value.code == "ARCHIVED"
    assert not (await get_reward(t.tenant.id, reward.id)).enabled
    # archiving again keeps the first archive time
    with clock.frozen_at(T0 + DAY):
        again = await archive_reward(t.tenant.id, reward.id)
    assert again.archived_at == T0
