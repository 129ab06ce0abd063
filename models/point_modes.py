"""Switching a tenant's point mode: an admin action, recorded with who and why."""

from __future__ import annotations

from uuid import UUID, uuid4

from tortoise.transactions import in_transaction

from core import clock
from models.pointmaster import PointModeChange
from models.tenants import PointMode, Tenant


async def set_point_mode(
    tenant_id: UUID, mode: PointMode, actor: str, reason: str = ""
) -> tuple[Tenant, PointModeChange | None]:
    """Set the mode; returns the tenant and the audit row (None when nothing changed)."""
    async with in_transaction() as conn:
        tenant = await Tenant.filter(id=tenant_id).select_for_update().using_db(conn).get()
        old = PointMode(tenant.point_mode)
        if old == mode:
            return tenant, None
        await Tenant.filter(id=tenant_id).using_db(conn).update(point_mode=mode)
        tenant.point_mode = mode
        change = await PointModeChange.create(
            id=uuid4(),
            tenant_id=tenant_id,
            old_mode=old,
            new_mode=mode,
            actor=actor,
            reason=reason.strip()[:1000],
            created_at=clock.now(),
            using_db=conn,
        )
        return tenant, change


async def point_mode_changes(tenant_id: UUID, limit: int = 50) -> list[PointModeChange]:
    return await PointModeChange.filter(tenant_id=tenant_id).order_by("-created_at").limit(limit)
