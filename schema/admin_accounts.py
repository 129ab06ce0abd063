"""The signed-in admin's own account."""

from __future__ import annotations

import strawberry

from schema.common import AccountError


@strawberry.type
class ChangePasswordPayload:
    changed: bool = False
    errors: list[AccountError] = strawberry.field(default_factory=list)
