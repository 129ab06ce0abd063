"""Login, API keys, member tokens, tiers and point currencies."""

from __future__ import annotations

from datetime import timedelta

import strawberry

from core import clock
from core.errors import DomainError, InvalidInput, Unauthenticated
from core.rate_limit import RateLimited
from core.security import issue_token
from models.members.reads import tiers_for
from models.members.upserts import delete_tier, save_point_definition, save_tier
from models.points.reads import definitions_for
from models.points.tables import ExpiryPolicy as ExpiryPolicyModel
from models.tenancy.access import create_api_key, revoke_api_key
from models.tenancy.login_limits import LoginLimits, login_admin
from models.tenancy.reads import api_keys_for
from resolvers.auth import (
    ADMIN,
    ANYONE,
    BACKEND,
    client_address,
    parse_id,
    rate_limited,
    require,
    target_member,
)
from schema.common import AccountError, AccountErrorCode, CatalogError, user_error
from schema.points import PointDefinition, PointDefinitionInput, PointDefinitionPayload
from schema.tenants import (
    ApiKey,
    ApiKeyPayload,
    DeletePayload,
    Tier,
    TierInput,
    TierPayload,
    TokenPayload,
)


async def login(info: strawberry.Info, email: str, password: str) -> TokenPayload:
    settings = info.context.settings
    limits = LoginLimits(
        settings.login_window,
        settings.login_failures_per_account,
        settings.login_failures_per_address,
    )
    try:
        admin = await login_admin(
            email, password, client_address(info.context.request), info.context.counters, limits
        )
    except RateLimited as exc:
        raise rate_limited(info, exc) from None
    except Unauthenticated as exc:
        return TokenPayload(
            errors=[
                AccountError(
                    field="password", message=exc.message, code=AccountErrorCode.INVALID_CREDENTIALS
                )
            ]
        )
    ttl = info.context.settings.admin_token_ttl
    token = issue_token(
        info.context.settings.secret_key, "admin", str(admin.id), str(admin.tenant_id), ttl
    )
    return TokenPayload(token=token, expires_at=clock.now() + timedelta(seconds=ttl))


async def create_member_token(
    info: strawberry.Info,
    member_id: strawberry.ID | None = None,
    external_user_id: str | None = None,
) -> TokenPayload:
    """A short-lived token for the widget, minted by the tenant backend."""
    principal = require(info, BACKEND)
    try:
        member = await target_member(principal, member_id, external_user_id)
    except DomainError as exc:
        return TokenPayload(errors=[user_error(AccountError, exc)])
    ttl = info.context.settings.member_token_ttl
    token = issue_token(
        info.context.settings.secret_key, "member", str(member.id), str(member.tenant_id), ttl
    )
    return TokenPayload(token=token, expires_at=clock.now() + timedelta(seconds=ttl))


async def create_key(info: strawberry.Info, name: str) -> ApiKeyPayload:
    principal = require(info, ADMIN)
    try:
        key, plaintext = await create_api_key(principal.tenant_id, name)
    except DomainError as exc:
        return ApiKeyPayload(errors=[user_error(AccountError, exc)])
    return ApiKeyPayload(api_key=ApiKey.from_model(key), key=plaintext)


async def revoke_key(info: strawberry.Info, id: strawberry.ID) -> ApiKeyPayload:
    principal = require(info, ADMIN)
    try:
        key = await revoke_api_key(principal.tenant_id, parse_id(id, "id"))  # type: ignore[arg-type]
    except DomainError as exc:
        return ApiKeyPayload(errors=[user_error(AccountError, exc)])
    return ApiKeyPayload(api_key=ApiKey.from_model(key))


async def api_keys(info: strawberry.Info) -> list[ApiKey]:
    principal = require(info, ADMIN)
    rows = await api_keys_for(principal.reader).order_by("-created_at")
    return [ApiKey.from_model(k) for k in rows]


async def save_tier_(info: strawberry.Info, input: TierInput) -> TierPayload:
    principal = require(info, ADMIN)
    try:
        extra = {} if input.min_value is strawberry.UNSET else {"min_value": input.min_value}
        tier = await save_tier(
            principal.tenant_id, parse_id(input.id, "id"), input.name, input.rank, **extra
        )
    except DomainError as exc:
        return TierPayload(errors=[user_error(CatalogError, exc)])
    return TierPayload(tier=Tier.from_model(tier))


async def delete_tier_(info: strawberry.Info, id: strawberry.ID) -> DeletePayload:
    principal = require(info, ADMIN)
    try:
        await delete_tier(principal.tenant_id, parse_id(id, "id"))  # type: ignore[arg-type]
    except DomainError as exc:
        return DeletePayload(errors=[user_error(CatalogError, exc)])
    return DeletePayload(deleted=True)


async def tiers(info: strawberry.Info) -> list[Tier]:
    principal = require(info, ANYONE)
    rows = await tiers_for(principal.reader).order_by("rank", "name")
    return [Tier.from_model(t) for t in rows]


async def save_definition(
    info: strawberry.Info, input: PointDefinitionInput
) -> PointDefinitionPayload:
    principal = require(info, ADMIN)
    try:
        expiry = None
        if input.expiry_policy is not None:
            expiry = (ExpiryPolicyModel(input.expiry_policy.value), input.expiry_value)
        elif input.expiry_value is not None:
            raise InvalidInput("Give expiryPolicy with expiryValue", field="expiryPolicy")
        definition = await save_point_definition(
            principal.tenant_id, parse_id(input.id, "id"), input.name, input.description, expiry
        )
    except DomainError as exc:
        return PointDefinitionPayload(errors=[user_error(CatalogError, exc)])
    return PointDefinitionPayload(point_definition=PointDefinition.from_model(definition))


async def point_definitions(info: strawberry.Info) -> list[PointDefinition]:
    principal = require(info, ANYONE)
    rows = await definitions_for(principal.reader).order_by("external_id")
    return [PointDefinition.from_model(d) for d in rows]
