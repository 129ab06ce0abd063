"""`member.tier_changed` webhooks: written with the change of a member's tier, whoever
makes it (upsertMember today; computed tiers tomorrow)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from core import clock
from models.members.tables import Member, Tier
from models.webhooks.catalogue import tier_changed as body
from models.webhooks.outbox import add_deliveries
from models.webhooks.tables import PayloadFormat, WebhookEvent


async def tier_changed(conn: BaseDBAsyncClient, member: Member, old_tier_id: UUID | None) -> None:
    """Outbox rows if the member's tier is no longer `old_tier_id`, in the caller's
    transaction (the one that changed it)."""
    if member.tier_id == old_tier_id:
        return
    now = clock.now()

    async def payload_for(_fmt: PayloadFormat) -> dict[str, Any]:
        ids = [i for i in (old_tier_id, member.tier_id) if i is not None]
        tiers = {t.id: t for t in await Tier.filter(id__in=ids).using_db(conn)}
        old = tiers.get(old_tier_id) if old_tier_id else None
        new = tiers.get(member.tier_id) if member.tier_id else None
        return body(member, old, new, now)

    await add_deliveries(
        conn, member.tenant_id, WebhookEvent.MEMBER_TIER_CHANGED.value, payload_for, now=now
    )
