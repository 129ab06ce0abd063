"""Members (upserted by the tenant backend), tiers and point currencies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.functions import Max

from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from models.catalog.reads import catalog_changed
from models.db.field_limits import MAX_DESCRIPTION, check_columns, check_text
from models.db.transactions import atomic
from models.members.tables import Member, Tier
from models.points.expiry import validate_policy
from models.points.tables import ExpiryPolicy, PointDefinition
from models.tenancy.facts import facts_changed
from models.tiers.evaluation import tier_assigned

_UNSET: Any = object()


async def upsert_member(
    tenant_id: UUID,
    external_user_id: str,
    *,
    email: Any = _UNSET,
    name: Any = _UNSET,
    address: Any = _UNSET,
    tier_id: Any = _UNSET,
) -> tuple[Member, bool]:
    """Create or update the member known to the tenant as `external_user_id`.

    Returns (member, created). Fields left unset keep their value.
    """
    external_user_id = (external_user_id or "").strip()
    if not external_user_id or len(external_user_id) > 200:
        raise InvalidInput("Use 1-200 characters", field="externalUserId", code=ErrorCode.INVALID)
    values: dict[str, Any] = {}
    if email is not _UNSET:
        if email is not None and "@" not in email:
            raise InvalidInput("Not an email address", field="email", code=ErrorCode.INVALID)
        values["email"] = email
    if name is not _UNSET:
        values["name"] = name
    if address is not _UNSET:
        if address is not None and not isinstance(address, dict):
            raise InvalidInput("Use a JSON object", field="address", code=ErrorCode.INVALID)
        values["address"] = address
    check_columns(Member, values, {"email": "email", "name": "name"})
    if tier_id is not _UNSET:
        if tier_id is not None and not await Tier.exists(id=tier_id, tenant_id=tenant_id):
            raise NotFound("Tier not found", field="tierId", code=ErrorCode.NOT_FOUND)
        values["tier_id"] = tier_id
    for _ in range(2):
        async with atomic() as conn:
            member = (
                await Member.filter(tenant_id=tenant_id, external_user_id=external_user_id)
                .select_for_update()
                .using_db(conn)
                .first()
            )
            if member is not None:
                old_tier = member.tier_id
                if values:
                    await Member.filter(id=member.id).using_db(conn).update(**values)
                    await member.refresh_from_db(using_db=conn)
                    await tier_assigned(conn, member, old_tier)
                return member, False
        try:
            async with atomic() as conn:
                member = await Member.create(
                    using_db=conn, tenant_id=tenant_id, external_user_id=external_user_id, **values
                )
                await tier_assigned(conn, member, None)
                return member, True
        except IntegrityError:
            continue  # created concurrently: update it instead
    raise Conflict(
        "The member is being changed concurrently, retry", code=ErrorCode.CONCURRENT_UPDATE
    )


async def get_member(tenant_id: UUID, member_id: UUID) -> Member:
    member = await Member.get_or_none(id=member_id, tenant_id=tenant_id)
    if member is None:
        raise NotFound("Member not found", field="memberId", code=ErrorCode.NOT_FOUND)
    return member


async def save_tier(
    tenant_id: UUID, tier_id: UUID | None, name: str, rank: int, min_value: Any = _UNSET
) -> Tier:
    """`min_value`: the activity that qualifies for the tier (models.tiers); None = given
    by hand only; unset = unchanged."""
    if not name.strip():
        raise InvalidInput("A name is required", field="name", code=ErrorCode.REQUIRED)
    check_columns(Tier, {"name": name.strip()}, {})
    if min_value is not _UNSET and min_value is not None and min_value < 0:
        raise InvalidInput(
            "Use 0 or more, or no threshold", field="minValue", code=ErrorCode.INVALID
        )
    extra = {} if min_value is _UNSET else {"min_value": min_value}
    try:
        if tier_id is None:
            tier = await Tier.create(tenant_id=tenant_id, name=name.strip(), rank=rank, **extra)
        else:
            found = await Tier.get_or_none(id=tier_id, tenant_id=tenant_id)
            if found is None:
                raise NotFound("Tier not found", field="id", code=ErrorCode.NOT_FOUND)
            tier = found
            tier.name, tier.rank = name.strip(), rank
            if extra:
                tier.min_value = extra["min_value"]
            await tier.save()
        facts_changed(tenant_id)
        return tier
    except IntegrityError as exc:
        raise Conflict(
            "A tier with this name exists", field="name", code=ErrorCode.DUPLICATE
        ) from exc


async def delete_tier(tenant_id: UUID, tier_id: UUID) -> None:
    """Members of a deleted tier keep no tier; rewards gated on it become ungated."""
    deleted = await Tier.filter(id=tier_id, tenant_id=tenant_id).delete()
    if not deleted:
        raise NotFound("Tier not found", field="id", code=ErrorCode.NOT_FOUND)
    facts_changed(tenant_id)
    catalog_changed(tenant_id)  # its rewards' gate is gone (min_tier_id set to null)


async def save_point_definition(
    tenant_id: UUID,
    definition_id: UUID | None,
    name: str,
    description: str = "",
    expiry: tuple[ExpiryPolicy, int | None] | None = None,
) -> PointDefinition:
    """`expiry`: the currency's expiry policy and its value (None: unchanged, NEVER for a
    new currency); applies to awards made from now on."""
    if not name.strip():
        raise InvalidInput("A name is required", field="name", code=ErrorCode.REQUIRED)
    check_columns(PointDefinition, {"name": name.strip()}, {})
    check_text(description, MAX_DESCRIPTION, "description")
    policy: dict[str, Any] = {}
    if expiry is not None:
        policy = {
            "expiry_policy": expiry[0],
            "expiry_value": validate_policy(expiry[0], expiry[1]),
        }
    try:
        if definition_id is None:
            highest = (
                await PointDefinition.filter(tenant_id=tenant_id)
                .annotate(top=Max("external_id"))
                .values_list("top", flat=True)
            )
            next_id = int(highest[0] or 0) + 1 if highest else 1  # type: ignore[arg-type]
            facts_changed(tenant_id)
            return await PointDefinition.create(
                tenant_id=tenant_id,
                name=name.strip(),
                description=description,
                external_id=next_id,
                is_default=not await PointDefinition.exists(tenant_id=tenant_id),
                **policy,
            )
        definition = await PointDefinition.get_or_none(id=definition_id, tenant_id=tenant_id)
        if definition is None:
            raise NotFound("Point definition not found", field="id", code=ErrorCode.NOT_FOUND)
        definition.name, definition.description = name.strip(), description
        for key, value in policy.items():
            setattr(definition, key, value)
        await definition.save()
        facts_changed(tenant_id)
        return definition
    except IntegrityError as exc:
        raise Conflict(
            "A point definition with this name exists", field="name", code=ErrorCode.DUPLICATE
        ) from exc
