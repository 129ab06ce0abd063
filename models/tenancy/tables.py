"""Tenants, their admins and their API keys."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from tortoise import fields
from tortoise.models import Model


class PointMode(StrEnum):
    MASTER = "MASTER"
    FOLLOWER_BALANCE = "FOLLOWER_BALANCE"
    FOLLOWER_TRANSACTIONS = "FOLLOWER_TRANSACTIONS"


class Tenant(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=100, unique=True)
    point_mode = fields.CharEnumField(PointMode, default=PointMode.MASTER, max_length=32)
    # `points.expiring_soon` webhooks go out this many days before points expire.
    points_expiring_soon_days = fields.IntField(default=7)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tenant"


MAX_EMAIL = 254  # TenantAdmin.email's length


class TenantAdmin(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="admins", on_delete=fields.CASCADE
    )
    email = fields.CharField(max_length=MAX_EMAIL, unique=True)
    name = fields.CharField(max_length=200, default="")
    password_hash = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    tenant_id: UUID

    class Meta:
        table = "tenant_admin"


class ApiKey(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="api_keys", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    prefix = fields.CharField(max_length=16)
    digest = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    tenant_id: UUID

    class Meta:
        table = "api_key"


class TenantOrigin(Model):
    """A browser origin (`scheme://host[:port]`) whose pages may call the API with the
    tenant's member tokens: the shop's own domains, for the widget."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="origins", on_delete=fields.CASCADE
    )
    origin = fields.CharField(max_length=300, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    tenant_id: UUID

    class Meta:
        table = "tenant_origin"
        unique_together = (("tenant", "origin"),)
