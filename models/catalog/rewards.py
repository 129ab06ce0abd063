"""The reward catalog: create, update, archive, and what a member may redeem."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

from tortoise.exceptions import IntegrityError

from core import clock
from core.errors import ErrorCode, InvalidInput, NotFound, Refused
from models.catalog.codes import CatalogCode
from models.catalog.reads import catalog_changed
from models.catalog.tables import Reward, RewardType
from models.db.field_limits import (
    MAX_FULFILLMENT_DATA_BYTES,
    MAX_REWARD_DESCRIPTION,
    check_json_size,
    check_text,
)
from models.members.tables import Tier
from models.points.awards import resolve_definition
from models.redemptions.tables import Redemption

UNSET: Any = object()


@dataclass
class RewardFields:
    """Fields an admin sets; UNSET means "leave as is" on update."""

    name: Any = UNSET
    description: Any = UNSET
    type: Any = UNSET
    value: Any = UNSET
    point_cost: Any = UNSET
    definition_id: Any = UNSET
    stock: Any = UNSET
    low_stock_threshold: Any = UNSET
    min_tier_id: Any = UNSET
    cooldown_seconds: Any = UNSET
    per_member_limit: Any = UNSET
    available_from: Any = UNSET
    available_until: Any = UNSET
    fulfillment_data: Any = UNSET
    public_data: Any = UNSET
    image_url: Any = UNSET
    enabled: Any = UNSET

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not UNSET
        }


_NON_NEGATIVE = ("point_cost", "stock", "low_stock_threshold", "cooldown_seconds")
# Columns without NULL: an explicit None must be refused (or cleared), not reach the database.
_NOT_NULL = ("type", "point_cost", "enabled")
_CLEARED_TO_EMPTY = ("description", "value")
_MAX_LENGTH = {"name": 200, "value": 100, "image_url": 2000}


async def _validate(tenant_id: UUID, values: dict[str, Any]) -> dict[str, Any]:
    if "name" in values and not (values["name"] or "").strip():
        raise InvalidInput("A name is required", field="name", code=ErrorCode.REQUIRED)
    for name in _NOT_NULL:
        if name in values and values[name] is None:
            raise InvalidInput(
                "This field is required", field=_camel(name), code=ErrorCode.REQUIRED
            )
    for name in _CLEARED_TO_EMPTY:
        if name in values and values[name] is None:
            values[name] = ""
    for name, limit in _MAX_LENGTH.items():
        if values.get(name) is not None and len(values[name]) > limit:
            raise InvalidInput(
                f"Use at most {limit} characters", field=_camel(name), code=ErrorCode.INVALID
            )
    for name in _NON_NEGATIVE:
        if values.get(name) is not None and values[name] < 0:
            raise InvalidInput("Must not be negative", field=_camel(name), code=ErrorCode.INVALID)
    if values.get("per_member_limit") is not None and values["per_member_limit"] < 1:
        raise InvalidInput("Must be at least 1", field="perMemberLimit", code=ErrorCode.INVALID)
    if values.get("type") is not None:
        try:
            values["type"] = RewardType(values["type"])
        except ValueError:
            raise InvalidInput(
                "Unknown reward type", field="type", code=ErrorCode.INVALID
            ) from None
    if "definition_id" in values:
        values["definition_id"] = (await resolve_definition(tenant_id, values["definition_id"])).id
    if values.get("min_tier_id") is not None:
        if not await Tier.exists(id=values["min_tier_id"], tenant_id=tenant_id):
            raise NotFound("Tier not found", field="minTierId", code=ErrorCode.NOT_FOUND)
    if values.get("image_url"):
        parsed = urlparse(values["image_url"])
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput("Use an http(s) URL", field="imageUrl", code=ErrorCode.INVALID)
    for name in ("fulfillment_data", "public_data"):
        if values.get(name) is not None and not isinstance(values[name], dict):
            raise InvalidInput("Use a JSON object", field=_camel(name), code=ErrorCode.INVALID)
        check_json_size(values.get(name), MAX_FULFILLMENT_DATA_BYTES, _camel(name))
    check_text(values.get("description"), MAX_REWARD_DESCRIPTION, "description")
    return values


def _check_window(available_from: datetime | None, available_until: datetime | None) -> None:
    if available_from and available_until and available_until <= available_from:
        raise InvalidInput(
            "availableUntil must be after availableFrom",
            field="availableUntil",
            code=ErrorCode.INVALID,
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def create_reward(tenant_id: UUID, spec: RewardFields) -> Reward:
    values = spec.given()
    for required in ("name", "type", "point_cost"):
        if values.get(required) is None:
            raise InvalidInput(
                "This field is required", field=_camel(required), code=ErrorCode.REQUIRED
            )
    values.setdefault("definition_id", None)
    values = await _validate(tenant_id, values)
    _check_window(values.get("available_from"), values.get("available_until"))
    reward = await Reward.create(tenant_id=tenant_id, **values)
    catalog_changed(tenant_id)
    return reward


async def get_reward(tenant_id: UUID, reward_id: UUID) -> Reward:
    reward = await Reward.get_or_none(id=reward_id, tenant_id=tenant_id)
    if reward is None:
        raise NotFound("Reward not found", field="id", code=ErrorCode.NOT_FOUND)
    return reward


async def update_reward(tenant_id: UUID, reward_id: UUID, spec: RewardFields) -> Reward:
    reward = await get_reward(tenant_id, reward_id)
    if reward.archived_at is not None:
        raise InvalidInput(
            "An archived reward cannot change", field="id", code=CatalogCode.ARCHIVED
        )
    values = await _validate(tenant_id, spec.given())
    if "name" in values and values["name"] is None:
        raise InvalidInput("A name is required", field="name", code=ErrorCode.REQUIRED)
    _check_window(
        values.get("available_from", reward.available_from),
        values.get("available_until", reward.available_until),
    )
    if values:
        # Stock is set, not incremented, by admins; redemptions change it only by guarded updates.
        await Reward.filter(id=reward.id).update(**values, updated_at=clock.now())
        catalog_changed(tenant_id)
        await reward.refresh_from_db()
    return reward


async def delete_reward(tenant_id: UUID, reward_id: UUID) -> None:
    """Delete a reward nobody ever redeemed (one made by mistake); a redeemed one keeps
    its row for its redemptions' sake and can only be archived."""
    reward = await get_reward(tenant_id, reward_id)
    refusal = Refused(
        "This reward has redemptions: archive it instead",
        field="id",
        code=CatalogCode.HAS_REDEMPTIONS,
    )
    if await Redemption.filter(reward_id=reward.id).exists():
        raise refusal
    try:
        await Reward.filter(id=reward.id, tenant_id=tenant_id).delete()
        catalog_changed(tenant_id)
    except IntegrityError as exc:  # redeemed meanwhile: the foreign key keeps the row
        raise refusal from exc


async def archive_reward(tenant_id: UUID, reward_id: UUID) -> Reward:
    """Archived rewards leave the catalog but stay readable on old redemptions."""
    reward = await get_reward(tenant_id, reward_id)
    if reward.archived_at is None:
        await Reward.filter(id=reward.id, archived_at__isnull=True).update(
            archived_at=clock.now(), enabled=False
        )
        catalog_changed(tenant_id)
        await reward.refresh_from_db()
    return reward
