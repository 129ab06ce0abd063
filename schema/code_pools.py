"""Voucher code pools: a reward's unique codes, as its admin sees and fills them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.catalog import tables as m
from models.catalog.code_pools import PoolStats
from schema.common import CatalogError


@strawberry.type(description="The unique codes a reward hands out, one per redemption")
class CodePool:
    id: strawberry.ID
    low_stock_threshold: int | None = strawberry.field(
        description="reward.low_stock is sent when the free codes fall below it"
    )
    size: int = strawberry.field(description="Every code ever added")
    free: int = strawberry.field(description="Not used, not burnt, not expired: redeemable")
    used: int = strawberry.field(description="Handed out to a redemption")
    burnt: int = strawberry.field(description="Withdrawn by an admin")
    expired: int = strawberry.field(description="Never handed out, now past their expiry")

    @classmethod
    def from_model(cls, pool: m.CodePool, stats: PoolStats) -> CodePool:
        return cls(
            id=strawberry.ID(str(pool.id)),
            low_stock_threshold=pool.low_stock_threshold,
            size=stats.size,
            free=stats.free,
            used=stats.used,
            burnt=stats.burnt,
            expired=stats.expired,
        )


@strawberry.input
class VoucherCodeInput:
    code: str
    expires_at: datetime | None = None


@strawberry.input(
    description="`count` random codes: `pattern` with each # replaced, or `length` characters"
)
class GenerateCodesInput:
    count: int
    pattern: str | None = strawberry.field(
        default=None, description='e.g. "SUMMER-########"; each # is a random character'
    )
    charset: str | None = strawberry.field(
        default=None, description="The characters to draw from (default: A-Z and 2-9 without I, O)"
    )
    length: int | None = strawberry.field(
        default=None, description="Without a pattern: how many characters (default 12)"
    )
    expires_at: datetime | None = None


@strawberry.type
class CodePoolPayload:
    pool: CodePool | None = None
    errors: list[CatalogError] = strawberry.field(default_factory=list)


@strawberry.type(description="What an upload or a generation did; the codes are not echoed")
class CodeUploadPayload:
    pool: CodePool | None = None
    added: int | None = None
    duplicates: int | None = strawberry.field(
        default=None, description="Already in the pool, or repeated in the request"
    )
    invalid: int | None = strawberry.field(
        default=None,
        description="Empty, longer than 100 characters, with spaces or control characters, "
        "or already expired",
    )
    errors: list[CatalogError] = strawberry.field(default_factory=list)


@strawberry.type
class BurnCodesPayload:
    pool: CodePool | None = None
    burnt: int | None = None
    errors: list[CatalogError] = strawberry.field(default_factory=list)
