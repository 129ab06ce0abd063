"""Idempotency keys: the same key never creates a second effect."""

from __future__ import annotations

import hashlib
import json
from uuid import UUID

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from core.errors import Conflict, InvalidInput
from models.db.codes import DbCode
from models.tenancy.tables import Tenant


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

    tenant_id: UUID

    class Meta:
        table = "idempotency_key"
        unique_together = (("tenant", "scope", "key"),)


def request_fingerprint(*parts: object) -> str:
    """A stable hash of what a request asks for, to tell a replay from a key reuse."""
    canonical = json.dumps([str(p) if p is not None else None for p in parts], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim_key(
    conn: BaseDBAsyncClient,
    tenant_id: UUID,
    scope: str,
    key: str,
    fingerprint: str,
    result_id: UUID,
) -> None:
    """Claim the key inside the caller's transaction, before any effect.

    A concurrent claim of the same key waits on the unique index until this transaction
    ends, then fails with IntegrityError; the caller answers with `replayed_result`.
    """
    await IdempotencyKey.create(
        tenant_id=tenant_id,
        scope=scope,
        key=key,
        request_hash=fingerprint,
        result_id=str(result_id),
        using_db=conn,
    )


async def replayed_result(tenant_id: UUID, scope: str, key: str, fingerprint: str) -> UUID | None:
    """The result of an earlier request with this key, None if the key was never used.

    Raises Conflict when the key was used for a different request.
    """
    record = await IdempotencyKey.get_or_none(tenant_id=tenant_id, scope=scope, key=key)
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise Conflict(
            "This idempotency key was used for a different request",
            field="idempotencyKey",
            code=DbCode.IDEMPOTENCY_CONFLICT,
        )
    return UUID(record.result_id)


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        raise InvalidInput("Use 1-200 characters", field="idempotencyKey")
    return key
