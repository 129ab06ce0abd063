"""Point-master sync rows: uploaded batches, balance snapshots, point-mode changes,
the tenant's point-master settings and keys, cached points logs, forwarded adjustments.

A batch is stored as received (the durable copy), then applied by a worker job; its
status and per-item messages answer the Voyado-style status endpoint.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.members.tables import Member
from models.points.tables import PointAccount, PointDefinition
from models.tenancy.tables import PointMode, Tenant
from models.webhooks.tables import WebhookDelivery, WebhookEndpoint


class SyncKind(StrEnum):
    BALANCES = "BALANCES"
    TRANSACTIONS = "TRANSACTIONS"


class SyncStatus(StrEnum):
    PENDING = "Pending"  # stored, waiting for a worker
    PROCESSING = "Processing"  # a worker holds the lease
    COMPLETED = "Completed"  # every item applied (or already applied)
    COMPLETED_WITH_ERRORS = "CompletedWithErrors"  # some items rejected: see the messages
    # Applying it failed MAX_ATTEMPTS times (models.pointmaster.uploads): see the messages; the master
    # may send it again.
    FAILED = "Failed"


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
    """Audit row: who switched a point mode, from what to what, and why.

    For the tenant's mode `point_definition` is null. For one currency's override it is
    set, and a null old/new mode means "follows the tenant's mode"."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="point_mode_changes", on_delete=fields.CASCADE
    )
    point_definition: fields.ForeignKeyNullableRelation[PointDefinition] = fields.ForeignKeyField(
        "models.PointDefinition",
        related_name="point_mode_changes",
        on_delete=fields.CASCADE,
        null=True,
    )
    old_mode = fields.CharEnumField(PointMode, max_length=32, null=True)
    new_mode = fields.CharEnumField(PointMode, max_length=32, null=True)
    actor = fields.CharField(max_length=200)
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField()

    tenant_id: UUID
    point_definition_id: UUID | None

    class Meta:
        table = "point_mode_change"


class PointMasterSettings(Model):
    """How the engine reaches the tenant's point master (one row per tenant)."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.OneToOneRelation[Tenant] = fields.OneToOneField(
        "models.Tenant", related_name="point_master_settings", on_delete=fields.CASCADE
    )
    # Template with `{contactId}`, e.g. https://master.example/api/contacts/{contactId}/points
    points_log_url = fields.CharField(max_length=2000, null=True)
    points_log_auth_header = fields.CharField(max_length=100, default="Authorization")
    points_log_auth_value = fields.TextField(null=True)  # a secret: never read back in full
    points_log_timeout_ms = fields.IntField(default=5000)
    points_log_cache_seconds = fields.IntField(default=60)
    # The WebhookEndpoint (format POINT_MASTER) that adjustments are delivered to.
    adjustment_endpoint: fields.ForeignKeyNullableRelation[WebhookEndpoint] = (
        fields.ForeignKeyField(
            "models.WebhookEndpoint",
            related_name="point_master_settings",
            on_delete=fields.SET_NULL,
            null=True,
        )
    )
    updated_by = fields.CharField(max_length=200, default="")
    updated_at = fields.DatetimeField()

    tenant_id: UUID
    adjustment_endpoint_id: UUID | None

    class Meta:
        table = "point_master_settings"


class PointMasterKey(Model):
    """An AES-256 key shared with the master, named by its key id.

    The current key has no `retired_at`. Retired keys are kept, so the admin can still
    see which key id encrypted what."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="point_master_keys", on_delete=fields.CASCADE
    )
    key_id = fields.CharField(max_length=32)
    key = fields.CharField(max_length=64)  # base64 of 32 bytes
    created_by = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField()
    retired_at = fields.DatetimeField(null=True)

    tenant_id: UUID

    class Meta:
        table = "point_master_key"
        unique_together = (("tenant", "key_id"),)


class PointsLogCache(Model):
    """The last points log fetched from the master for a member, shared by every API
    process. `fetch_seq` grows with every finished fetch, so a request can wait for the
    fetch it asked for without comparing clocks."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="points_logs", on_delete=fields.CASCADE
    )
    member: fields.OneToOneRelation[Member] = fields.OneToOneField(
        "models.Member", related_name="points_log", on_delete=fields.CASCADE
    )
    entries: fields.Field[list[dict[str, Any]] | None] = fields.JSONField(null=True)
    fetched_at = fields.DatetimeField(null=True)  # of the last good copy
    error_code = fields.CharField(max_length=32, null=True)  # of the last fetch, if it failed
    error_message = fields.TextField(null=True)
    attempted_at = fields.DatetimeField(null=True)
    fetch_seq = fields.IntField(default=0)

    tenant_id: UUID
    member_id: UUID

    class Meta:
        table = "points_log_cache"


class ForwardedAdjustment(Model):
    """An adjustment made in follower mode, sent to the master.

    Its id is the `id` of the `loyalty.addPoints` body. `fields` is the plaintext of the
    encrypted payload, as sent. An admin's or automation's adjustment is not applied here
    (`applied_locally` false: the master's next sync brings it). A redemption's deduction
    and a failed redemption's refund are applied here at once and forwarded so the master
    follows (`applied_locally` true, `redemption_id` set): sync reconciles those
    (models.pointmaster.apply_balances, models.pointmaster.apply_transactions) instead of applying them twice."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="forwarded_adjustments", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="forwarded_adjustments", on_delete=fields.CASCADE
    )
    point_definition: fields.ForeignKeyRelation[PointDefinition] = fields.ForeignKeyField(
        "models.PointDefinition", related_name="forwarded_adjustments", on_delete=fields.CASCADE
    )
    delivery: fields.ForeignKeyNullableRelation[WebhookDelivery] = fields.ForeignKeyField(
        "models.WebhookDelivery",
        related_name="forwarded_adjustments",
        on_delete=fields.SET_NULL,
        null=True,
    )
    contact_id = fields.CharField(max_length=200)  # as sent: the member's externalUserId
    definition_external_id = fields.IntField()  # as sent: PointDefinitionId
    amount = fields.BigIntField()
    source = fields.CharField(max_length=16)  # Manual | Automation
    description = fields.TextField(default="")
    reason = fields.TextField(default="")
    payload_fields: fields.Field[dict[str, Any]] = fields.JSONField()
    key_id = fields.CharField(max_length=32)
    idempotency_key = fields.CharField(max_length=200, null=True)
    actor = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()
    reflected_at = fields.DatetimeField(null=True)
    reflected_batch_id = fields.UUIDField(null=True)
    applied_locally = fields.BooleanField(default=False)
    redemption_id = fields.UUIDField(null=True, db_index=True)

    tenant_id: UUID
    member_id: UUID
    point_definition_id: UUID
    delivery_id: UUID | None

    class Meta:
        table = "forwarded_adjustment"
        unique_together = (("tenant", "idempotency_key"),)
        indexes = (
            ("tenant_id", "created_at"),
            ("tenant_id", "contact_id"),
            ("member_id", "point_definition_id"),  # a sync chunk's accounts' forwards
        )
