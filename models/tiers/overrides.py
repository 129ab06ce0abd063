"""Manual tier overrides: an admin sets a member's tier, with a reason, kept until the
override is cleared or its date passes; computation then takes over again."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from core import clock
from core.errors import ErrorCode, InvalidInput, NotFound
from models.db.field_limits import MAX_DESCRIPTION, check_text
from models.db.transactions import atomic
from models.members.tables import Member, Tier
from models.tiers.evaluation import Outcome, active_policy, evaluate, record_change
from models.tiers.tables import TierChange, TierChangeReason


async def set_member_tier(
    tenant_id: UUID,
    member_id: UUID,
    tier_id: UUID | None,
    reason: str,
    *,
    until: datetime | None = None,
    actor: str = "admin",
) -> TierChange:
    """Give the member `tier_id` (None: no tier) whatever its activity, until `until`
    (None: until cleared)."""
    now = clock.now()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "Say why the tier is set by hand", field="reason", code=ErrorCode.REQUIRED
        )
    check_text(reason, MAX_DESCRIPTION, "reason")
    if until is not None and until <= now:
        raise InvalidInput(
            "The override must end in the future", field="until", code=ErrorCode.INVALID
        )
    target = None
    if tier_id is not None:
        target = await Tier.get_or_none(id=tier_id, tenant_id=tenant_id)
        if target is None:
            raise NotFound("Tier not found", field="tierId", code=ErrorCode.NOT_FOUND)
    async with atomic() as conn:
        member = await _locked_member(conn, tenant_id, member_id)
        current = (
            await Tier.filter(id=member.tier_id).using_db(conn).first() if member.tier_id else None
        )
        await (
            Member.filter(id=member.id)
            .using_db(conn)
            .update(
                tier_id=tier_id,
                tier_override=True,
                tier_override_reason=reason,
                tier_override_until=until,
                tier_in_grace=False,
            )
        )
        return await record_change(
            conn, member, current, target, TierChangeReason.MANUAL, now, actor=actor, note=reason
        )


async def clear_override(
    tenant_id: UUID, member_id: UUID, *, actor: str = "admin"
) -> tuple[Member, TierChange | None]:
    """End the override now: the member gets the tier its activity qualifies for (with an
    enabled policy; without one it keeps the tier it has)."""
    async with atomic() as conn:
        member = await _locked_member(conn, tenant_id, member_id)
        outcome = await _end_override(conn, member, actor)
    await member.refresh_from_db()
    return member, outcome.change


async def _end_override(conn: BaseDBAsyncClient, member: Member, actor: str) -> Outcome:
    await (
        Member.filter(id=member.id)
        .using_db(conn)
        .update(tier_override=False, tier_override_reason=None, tier_override_until=None)
    )
    policy = await active_policy(member.tenant_id)
    if policy is None:
        return Outcome(None, member.tier_review_at, member.tier_in_grace)
    # The override stood in for a review: the member gets what it qualifies for now (the
    # grace period is for members whose activity lapsed, not for the end of an exception).
    return await evaluate(
        conn, policy, member.id, clock.now(), review=True, actor=actor, grace=False
    )


async def end_expired_overrides(now: datetime, limit: int = 500) -> int:
    """Cron: overrides whose date passed end; returns how many."""
    ids = (
        await Member.filter(tier_override=True, tier_override_until__lte=now)
        .limit(limit)
        .values_list("id", "tenant_id")
    )
    for member_id, tenant_id in ids:
        await clear_override(tenant_id, member_id, actor="system")
    return len(ids)


async def _locked_member(conn: BaseDBAsyncClient, tenant_id: UUID, member_id: UUID) -> Member:
    """The tenant's member, locked for the tier change (NotFound if not the tenant's)."""
    member = (
        await Member.filter(id=member_id, tenant_id=tenant_id)
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if member is None:
        raise NotFound("Member not found", field="memberId", code=ErrorCode.NOT_FOUND)
    return member
