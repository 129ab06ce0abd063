"""The signed-in admin's own account."""

from __future__ import annotations

import strawberry

from core.errors import DomainError
from models.tenancy.admin_passwords import change_password as change_admin_password
from resolvers.auth import ADMIN, require
from schema.admin_accounts import ChangePasswordPayload
from schema.common import AccountError, user_error


async def change_password(
    info: strawberry.Info, current_password: str, new_password: str
) -> ChangePasswordPayload:
    principal = require(info, ADMIN)
    try:
        await change_admin_password(
            principal.tenant_id, principal.subject_id, current_password, new_password
        )
    except DomainError as exc:
        return ChangePasswordPayload(errors=[user_error(AccountError, exc)])
    return ChangePasswordPayload(changed=True)
