"""A tenant admin's own account: changing its password."""

from __future__ import annotations

from uuid import UUID

from core.errors import InvalidInput
from core.security import hash_password, verify_password
from models.tenancy.access import MIN_PASSWORD_LENGTH
from models.tenancy.codes import AccountCode
from models.tenancy.tables import TenantAdmin


async def change_password(tenant_id: UUID, admin_id: UUID, current: str, new: str) -> None:
    """Replace the admin's password, given the current one."""
    admin = await TenantAdmin.get_or_none(id=admin_id, tenant_id=tenant_id)
    if admin is None or not verify_password(admin.password_hash, current):
        raise InvalidInput(
            "The current password is wrong",
            field="currentPassword",
            code=AccountCode.INVALID_CREDENTIALS,
        )
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Use at least {MIN_PASSWORD_LENGTH} characters",
            field="newPassword",
            code=AccountCode.PASSWORD_TOO_SHORT,
        )
    if new == current:
        raise InvalidInput("Choose a password other than the current one", field="newPassword")
    # Conditional on the hash just checked: of two concurrent changes, only one applies
    # (the other must prove the password again).
    changed = await TenantAdmin.filter(id=admin.id, password_hash=admin.password_hash).update(
        password_hash=hash_password(new)
    )
    if not changed:
        raise InvalidInput(
            "The password was changed meanwhile",
            field="currentPassword",
            code=AccountCode.INVALID_CREDENTIALS,
        )
