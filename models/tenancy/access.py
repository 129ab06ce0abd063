"""Tenant on-boarding, admin login and API keys."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError

from core import clock
from core.after_commit import Once, after_commit
from core.broker import revoked_credentials_channel
from core.cache import Cache, invalidate
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound, Unauthenticated
from core.queue import JobQueue
from core.security import (
    api_key_digest,
    api_key_display_prefix,
    hash_password,
    new_api_key,
    verify_password,
)
from models.db.field_limits import check_columns
from models.db.transactions import atomic
from models.points.tables import PointDefinition
from models.tenancy.codes import AccountCode
from models.tenancy.tables import MAX_EMAIL, ApiKey, Tenant, TenantAdmin

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,98}[a-z0-9]$")
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class NewTenant:
    tenant: Tenant
    admin: TenantAdmin
    definition: PointDefinition


async def create_tenant(name: str, slug: str, admin_email: str, admin_password: str) -> NewTenant:
    """A tenant with its first admin and its default point currency ("points")."""
    if not _SLUG.match(slug):
        raise InvalidInput("Use 3-100 lowercase letters, digits and dashes", field="slug")
    if len(admin_password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Use at least {MIN_PASSWORD_LENGTH} characters",
            field="password",
            code=AccountCode.PASSWORD_TOO_SHORT,
        )
    email = admin_email.strip().lower()
    if "@" not in email:
        raise InvalidInput("Not an email address", field="email")
    try:
        async with atomic():
            tenant = await Tenant.create(name=name, slug=slug)
            admin = await TenantAdmin.create(
                tenant=tenant, email=email, password_hash=hash_password(admin_password)
            )
            definition = await PointDefinition.create(
                tenant=tenant, name="points", external_id=1, is_default=True
            )
    except IntegrityError as exc:
        raise Conflict(
            "A tenant with this slug or admin email exists", code=ErrorCode.DUPLICATE
        ) from exc
    return NewTenant(tenant=tenant, admin=admin, definition=definition)


async def add_admin(tenant_id: UUID, email: str, password: str) -> TenantAdmin:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Use at least {MIN_PASSWORD_LENGTH} characters",
            field="password",
            code=AccountCode.PASSWORD_TOO_SHORT,
        )
    try:
        return await TenantAdmin.create(
            tenant_id=tenant_id, email=email.strip().lower(), password_hash=hash_password(password)
        )
    except IntegrityError as exc:
        raise Conflict(
            "An admin with this email exists", field="email", code=ErrorCode.DUPLICATE
        ) from exc


async def authenticate_admin(email: str, password: str) -> TenantAdmin:
    email = email.strip().lower()
    # An email longer than the column is nobody's (and Tortoise refuses to filter on it).
    fits = len(email) <= MAX_EMAIL
    admin = await TenantAdmin.get_or_none(email=email) if fits else None
    # Verify even when the email is unknown so response time does not reveal accounts.
    # argon2 takes ~0.1 s of CPU by design: in a thread, the event loop serves others meanwhile.
    stored = admin.password_hash if admin else None
    if not await asyncio.to_thread(verify_password, stored, password) or admin is None:
        raise Unauthenticated("Invalid email or password")
    return admin


async def admin_exists(tenant_id: UUID, admin_id: UUID) -> bool:
    """Whether an admin token's subject is still an admin of its tenant."""
    return await TenantAdmin.exists(id=admin_id, tenant_id=tenant_id)


@dataclass(frozen=True)
class ValidKey:
    """What a request authenticated by an API key needs of the key."""

    id: UUID
    tenant_id: UUID
    prefix: str


# Asked on every request with an API key: cached by the key's digest (core.cache), so a
# revocation drops it on every process within milliseconds. Only keys that authenticate
# are kept: a wrong or revoked key is looked up every time it is tried.
API_KEYS: Cache[str, ValidKey] = Cache("api-keys", str)


async def create_api_key(tenant_id: UUID, name: str) -> tuple[ApiKey, str]:
    """Returns the stored key and its plaintext, which is shown once and never stored."""
    if not name.strip():
        raise InvalidInput("A name is required", field="name")
    check_columns(ApiKey, {"name": name.strip()}, {})
    plaintext = new_api_key()
    key = await ApiKey.create(
        tenant_id=tenant_id,
        name=name.strip(),
        prefix=api_key_display_prefix(plaintext),
        digest=api_key_digest(plaintext),
    )
    return key, plaintext


async def revoke_api_key(tenant_id: UUID, key_id: UUID) -> ApiKey:
    key = await ApiKey.get_or_none(id=key_id, tenant_id=tenant_id)
    if key is None:
        raise NotFound("API key not found", field="id")
    if key.revoked_at is None:
        await ApiKey.filter(id=key_id, revoked_at__isnull=True).update(revoked_at=clock.now())
        await key.refresh_from_db()
        after_commit(KeyRevoked(key.id))  # its open WebSockets, on every process
        invalidate(API_KEYS, key.digest)  # its cached entry, on every process
    return key


def revocation(key_id: UUID) -> dict[str, str]:
    """The message that tells every API process a key was revoked (core.broker's
    revoked_credentials_channel), so each closes the key's open WebSockets."""
    return {"apiKeyId": str(key_id)}


@dataclass(frozen=True)
class KeyRevoked(Once):
    """After commit: every API process closes the key's open WebSockets (without Redis,
    each notices at its next check, engine.credential_watch)."""

    key_id: UUID

    async def run(self, queue: JobQueue, broker: Any | None) -> None:
        if broker is not None:
            await broker.publish(revoked_credentials_channel(), revocation(self.key_id))


async def tenant_for_api_key(plaintext: str, *, fresh: bool = False) -> ValidKey:
    """The key, if it is valid. `fresh` reads the database, never the cache."""
    digest = api_key_digest(plaintext)
    if fresh:
        return await _valid_key(digest)
    return await API_KEYS.get(digest, lambda: _valid_key(digest))


async def _valid_key(digest: str) -> ValidKey:
    row = (
        await ApiKey.filter(digest=digest, revoked_at__isnull=True)
        .first()
        .values_list("id", "tenant_id", "prefix")
    )
    if row is None:
        raise Unauthenticated("Invalid API key")  # raised, so never cached
    key_id, tenant_id, prefix = row
    return ValidKey(UUID(str(key_id)), UUID(str(tenant_id)), str(prefix))
