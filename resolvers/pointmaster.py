"""Point-master sync for the API layers: point modes, and uploads handed to the workers."""

from __future__ import annotations

from typing import Any

import strawberry

from core.errors import DomainError, InvalidInput, NotFound
from models.pointmaster.modes import (
    definition_mode,
    point_mode_changes,
    set_definition_mode,
    set_point_mode,
)
from models.pointmaster.tables import SyncKind
from models.pointmaster.uploads import accept_batch, get_batch
from models.tenancy.tables import PointMode as ModelPointMode
from resolvers.auth import ADMIN, BACKEND, parse_id, require
from schema.common import AccountError, user_error
from schema.pointmaster import PointMasterError, PointModeChange, PointModePayload
from schema.points import PointDefinition, PointMode
from schema.sync_batches import (
    PointBalanceInput,
    PointTransactionInput,
    SyncBatch,
    SyncBatchPayload,
)


async def set_point_mode_(
    info: strawberry.Info,
    mode: PointMode | None = None,
    reason: str = "",
    point_definition_id: strawberry.ID | None = None,
) -> PointModePayload:
    """Switch who owns the points (admin): the tenant's mode, or with `pointDefinitionId`
    one currency's own mode (null = follow the tenant's again). Recorded with who and why."""
    principal = require(info, ADMIN)
    new = ModelPointMode(mode.value) if mode is not None else None
    try:
        if point_definition_id is None:
            if new is None:
                raise InvalidInput("Give the tenant's mode", field="mode")
            tenant, change = await set_point_mode(principal.tenant_id, new, principal.actor, reason)
            return PointModePayload(
                mode=PointMode(str(tenant.point_mode)),
                change=PointModeChange.from_model(change) if change else None,
            )
        definition_id = parse_id(point_definition_id, "pointDefinitionId")
        assert definition_id is not None
        definition, change = await set_definition_mode(
            principal.tenant_id, definition_id, new, principal.actor, reason
        )
    except DomainError as exc:
        return PointModePayload(errors=[user_error(AccountError, exc)])
    return PointModePayload(
        mode=PointMode((await definition_mode(definition)).value),
        point_definition=PointDefinition.from_model(definition),
        change=PointModeChange.from_model(change) if change else None,
    )


async def point_mode_changes_(info: strawberry.Info) -> list[PointModeChange]:
    """The tenant's and its currencies' point-mode switches, newest first (admin)."""
    principal = require(info, ADMIN)
    return [PointModeChange.from_model(c) for c in await point_mode_changes(principal.tenant_id)]


async def _upload(
    info: strawberry.Info, kind: SyncKind, items: list[dict[str, Any]]
) -> SyncBatchPayload:
    principal = require(info, BACKEND)
    try:
        batch = await accept_batch(principal.tenant_id, kind, items)
    except DomainError as exc:
        return SyncBatchPayload(errors=[PointMasterError.from_error(exc)])
    return SyncBatchPayload(batch=SyncBatch.from_model(batch))


async def upload_point_balances(
    info: strawberry.Info, items: list[PointBalanceInput]
) -> SyncBatchPayload:
    """As POST /api/v2/point-accounts/balances: stored at once, applied by a worker."""
    return await _upload(info, SyncKind.BALANCES, [i.item() for i in items])


async def upload_point_transactions(
    info: strawberry.Info, items: list[PointTransactionInput]
) -> SyncBatchPayload:
    """As POST /api/v2/point-accounts/transactions (at most 1,000 items)."""
    return await _upload(info, SyncKind.TRANSACTIONS, [i.item() for i in items])


async def sync_batch(info: strawberry.Info, id: strawberry.ID) -> SyncBatch | None:
    """An upload's status and messages (API key or admin); null for an unknown id."""
    principal = require(info, BACKEND)
    try:
        return SyncBatch.from_model(await get_batch(principal.tenant_id, str(id)))
    except NotFound:
        return None
