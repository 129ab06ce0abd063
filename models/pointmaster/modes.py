"""Point modes: who owns the points, per tenant and per point definition.

A definition's `point_mode` overrides the tenant's (null = it follows the tenant's).
Switching either is an admin action, recorded with who and why (PointModeChange).
"""

from __future__ import annotations

from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient

from core import clock
from core.errors import NotFound, Refused
from models.db.transactions import atomic
from models.pointmaster.codes import PointMasterCode
from models.pointmaster.tables import PointModeChange
from models.points.tables import PointDefinition
from models.tenancy.facts import facts_changed, tenant_facts
from models.tenancy.tables import PointMode, Tenant

FOLLOWER_MODES = frozenset({PointMode.FOLLOWER_BALANCE, PointMode.FOLLOWER_TRANSACTIONS})
BALANCE = PointMode.FOLLOWER_BALANCE


def effective_mode(definition: PointDefinition, tenant_mode: PointMode | str) -> PointMode:
    return PointMode(definition.point_mode or tenant_mode)


async def definition_mode(definition: PointDefinition) -> PointMode:
    """The mode that governs this currency: its override, else its tenant's."""
    if definition.point_mode is not None:
        return PointMode(definition.point_mode)
    return (await tenant_facts(definition.tenant_id)).point_mode


async def mode_in_use(tenant: Tenant, mode: PointMode) -> bool:
    """Whether some currency of the tenant is governed by `mode`."""
    definitions = await PointDefinition.filter(tenant_id=tenant.id)
    if not definitions:
        return PointMode(tenant.point_mode) == mode
    return any(effective_mode(d, tenant.point_mode) == mode for d in definitions)


async def require_engine_owns(definition: PointDefinition) -> None:
    """Local awards are refused where the point master owns the points."""
    mode = await definition_mode(definition)
    if mode in FOLLOWER_MODES:
        raise Refused(
            f"The point master owns the points of '{definition.name}' (mode {mode.value}): "
            "award them at the master, or use adjustPoints, which forwards to it",
            field="pointDefinitionId",
            code=PointMasterCode.MASTER_OWNS_POINTS,
        )


async def require_local_history(
    tenant_id: UUID, member_id: UUID, definition_id: UUID | None
) -> None:
    """The ledger is the history only where the engine sees every transaction: in
    FOLLOWER_BALANCE mode the master sends totals, and the history is its points log."""
    tenant_mode = (await tenant_facts(tenant_id)).point_mode
    if definition_id is not None:
        definitions = await PointDefinition.filter(id=definition_id, tenant_id=tenant_id)
    else:
        definitions = await PointDefinition.filter(
            tenant_id=tenant_id, accounts__member_id=member_id
        )
    governed = [d for d in definitions if effective_mode(d, tenant_mode) == BALANCE]
    if governed:
        names = ", ".join(sorted(d.name for d in governed))
        raise Refused(
            f"The point master keeps only balances here for {names} (FOLLOWER_BALANCE): "
            "the history lives at the master, read it with pointsLog",
            field="pointDefinitionId",
            code=PointMasterCode.HISTORY_AT_MASTER,
        )


async def _record(
    conn: BaseDBAsyncClient,
    tenant_id: UUID,
    definition_id: UUID | None,
    old: PointMode | None,
    new: PointMode | None,
    actor: str,
    reason: str,
) -> PointModeChange:
    return await PointModeChange.create(
        id=uuid4(),
        tenant_id=tenant_id,
        point_definition_id=definition_id,
        old_mode=old,
        new_mode=new,
        actor=actor,
        reason=reason.strip()[:1000],
        created_at=clock.now(),
        using_db=conn,
    )


async def set_point_mode(
    tenant_id: UUID, mode: PointMode, actor: str, reason: str = ""
) -> tuple[Tenant, PointModeChange | None]:
    """Set the tenant's mode; returns the tenant and the audit row (None when nothing changed)."""
    async with atomic() as conn:
        tenant = await Tenant.filter(id=tenant_id).select_for_update().using_db(conn).get()
        old = PointMode(tenant.point_mode)
        if old == mode:
            return tenant, None
        await Tenant.filter(id=tenant_id).using_db(conn).update(point_mode=mode)
        facts_changed(tenant_id)
        tenant.point_mode = mode
        change = await _record(conn, tenant_id, None, old, mode, actor, reason)
        return tenant, change


async def set_definition_mode(
    tenant_id: UUID, definition_id: UUID, mode: PointMode | None, actor: str, reason: str = ""
) -> tuple[PointDefinition, PointModeChange | None]:
    """Override one currency's mode (None = follow the tenant's again), recorded."""
    async with atomic() as conn:
        definition = (
            await PointDefinition.filter(id=definition_id, tenant_id=tenant_id)
            .select_for_update()
            .using_db(conn)
            .first()
        )
        if definition is None:
            raise NotFound("Point definition not found", field="pointDefinitionId")
        old = PointMode(definition.point_mode) if definition.point_mode else None
        if old == mode:
            return definition, None
        await PointDefinition.filter(id=definition_id).using_db(conn).update(point_mode=mode)
        facts_changed(tenant_id)
        definition.point_mode = mode  # type: ignore[assignment]
        change = await _record(conn, tenant_id, definition_id, old, mode, actor, reason)
        return definition, change


async def point_mode_changes(tenant_id: UUID, limit: int = 50) -> list[PointModeChange]:
    return await PointModeChange.filter(tenant_id=tenant_id).order_by("-created_at").limit(limit)
