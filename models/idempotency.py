"""Idempotency keys: the same key never creates a second effect."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.tenants import Tenant


class IdempotencyKey(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="idempotency_keys", on_delete=fields.CASCADE
    )
    # What the key is unique within, e.g. "redeem:<member id>" or "points:<member id>".
    scope = fields.CharField(max_length=100)
    key = fields.CharField(max_length=200)
    request_hash = fields.CharField(max_length=64)
    result_id = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    tenant_id: object

    class Meta:
        table = "idempotency_key"
        unique_together = (("tenant", "scope", "key"),)
