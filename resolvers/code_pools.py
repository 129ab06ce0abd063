"""Voucher code pools for admins: attach, upload, generate, burn."""

from __future__ import annotations

from uuid import UUID

import strawberry

from core.errors import DomainError
from models.catalog.code_pools import (
    CodeEntry,
    CodePattern,
    CodeUpload,
    add_codes,
    attach_pool,
    burn_codes,
    generate_codes,
    pool_of,
    pool_stats,
)
from resolvers.auth import ADMIN, parse_id, require
from schema.code_pools import (
    BurnCodesPayload,
    CodePool,
    CodePoolPayload,
    CodeUploadPayload,
    GenerateCodesInput,
    VoucherCodeInput,
)
from schema.common import CatalogError, user_error


def _reward_id(info: strawberry.Info, reward_id: strawberry.ID) -> tuple[UUID, UUID]:
    principal = require(info, ADMIN)
    parsed = parse_id(reward_id, "rewardId")
    assert parsed is not None
    return principal.tenant_id, parsed


async def _pool(tenant_id: UUID, reward_id: UUID) -> CodePool | None:
    pool = await pool_of(tenant_id, reward_id)
    return CodePool.from_model(pool, await pool_stats(pool)) if pool else None


async def _uploaded(tenant_id: UUID, reward_id: UUID, upload: CodeUpload) -> CodeUploadPayload:
    return CodeUploadPayload(
        pool=await _pool(tenant_id, reward_id),
        added=upload.added,
        duplicates=upload.duplicates,
        invalid=upload.invalid,
    )


async def attach_code_pool(
    info: strawberry.Info, reward_id: strawberry.ID, low_stock_threshold: int | None = None
) -> CodePoolPayload:
    """Give the reward a code pool (or set its threshold): its redemptions then draw a code."""
    try:
        tenant_id, rid = _reward_id(info, reward_id)
        await attach_pool(tenant_id, rid, low_stock_threshold)
        return CodePoolPayload(pool=await _pool(tenant_id, rid))
    except DomainError as exc:
        return CodePoolPayload(errors=[user_error(CatalogError, exc)])


async def upload_voucher_codes(
    info: strawberry.Info, reward_id: strawberry.ID, codes: list[VoucherCodeInput]
) -> CodeUploadPayload:
    """Add codes to the reward's pool (made if missing), up to 100,000 a request."""
    try:
        tenant_id, rid = _reward_id(info, reward_id)
        upload = await add_codes(tenant_id, rid, [CodeEntry(c.code, c.expires_at) for c in codes])
        return await _uploaded(tenant_id, rid, upload)
    except DomainError as exc:
        return CodeUploadPayload(errors=[user_error(CatalogError, exc)])


async def generate_voucher_codes(
    info: strawberry.Info, reward_id: strawberry.ID, input: GenerateCodesInput
) -> CodeUploadPayload:
    """Let the engine make the codes: random, and unguessable from one another."""
    pattern = CodePattern(input.pattern)
    if input.charset is not None:
        pattern = CodePattern(pattern.pattern, input.charset, pattern.length)
    if input.length is not None:
        pattern = CodePattern(pattern.pattern, pattern.charset, input.length)
    try:
        tenant_id, rid = _reward_id(info, reward_id)
        upload = await generate_codes(tenant_id, rid, input.count, pattern, input.expires_at)
        return await _uploaded(tenant_id, rid, upload)
    except DomainError as exc:
        return CodeUploadPayload(errors=[user_error(CatalogError, exc)])


async def burn_voucher_codes(
    info: strawberry.Info, reward_id: strawberry.ID, codes: list[str]
) -> BurnCodesPayload:
    """Withdraw codes for good: a burnt code is never handed out, nor returned to the pool
    when its redemption fails."""
    try:
        tenant_id, rid = _reward_id(info, reward_id)
        burnt = await burn_codes(tenant_id, rid, codes)
        return BurnCodesPayload(pool=await _pool(tenant_id, rid), burnt=burnt)
    except DomainError as exc:
        return BurnCodesPayload(errors=[user_error(CatalogError, exc)])
