"""Point-master sync rows: uploaded batches, balance snapshots, point-mode changes.

A batch is stored as received (the durable copy), then applied by a worker job; its
status and per-item messages answer the Voyado-style status endpoint.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.points import PointAccount
from models.tenants import PointMode, Tenant


class SyncKind(StrEnum):
    BALANCES = "BALANCES"
    TRANSACTIONS = "TRANSACTIONS"


class SyncStatus(StrEnum):
    PENDING = "Pending"  # stored, waiting for a worker
    PROCESSING = "Processing"  # a worker holds the lease
    COMPLETED = "Completed"  # every item applied (or already applied)
    COMPLETED_WITH_ERRORS = "CompletedWithErrors"  # some items rejected: see the messages


class SyncBatch(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="sync_batches", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(SyncKind, max_length=16)
    status = fields.CharEnumField(SyncStatus, max_length=32, default=SyncStatus.PENDING)
    items: fields.Field[list[dict[str, Any]]] = fields.JSONField()
    item_count = fields.IntField()
    applied_count = fields.IntField(default=0)
    # [{"message": str, "timeStamp": ISO 8601}], what was rejected or ignored, per item.
    messages: fields.Field[list[dict[str, str]]] = fields.JSONField(default=list)
    attempts = fields.IntField(default=0)
    leased_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    tenant_id: UUID

    class Meta:
        table = "sync_batch"
        indexes = (("status", "created_at"),)


class BalanceSnapshot(Model):
    """The master's last applied balance snapshot of an account: an older one never wins."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="balance_snapshots", on_delete=fields.CASCADE
    )
    account: fields.OneToOneRelation[PointAccount] = fields.OneToOneField(
        "models.PointAccount", related_name="balance_snapshot", on_delete=fields.CASCADE
    )
    snapshot_at = fields.DatetimeField()
    amount = fields.BigIntField()
    batch_id = fields.UUIDField(null=True)
    updated_at = fields.DatetimeField()

    tenant_id: UUID
    account_id: UUID

    class Meta:
        table = "balance_snapshot"


class PointModeChange(Model):
    """Audit row: who switched the tenant's point mode, from what to what, and why."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="point_mode_changes", on_delete=fields.CASCADE
    )
    old_mode = fields.CharEnumField(PointMode, max_length=32)
    new_mode = fields.CharEnumField(PointMode, max_length=32)
    actor = fields.CharField(max_length=200)
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField()

    tenant_id: UUID

    class Meta:
        table = "point_mode_change"
