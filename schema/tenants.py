"""Tenant-level types: tiers, API keys, tokens."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.members import tables as mm
from models.tenancy import tables as m
from schema.common import AccountError, CatalogError


@strawberry.type
class Tier:
    id: strawberry.ID
    name: str
    rank: int
    min_value: int | None = strawberry.field(
        default=None,
        description="Activity in the tier policy's window that qualifies for the tier "
        "(null: given by hand only)",
    )

    @classmethod
    def from_model(cls, t: mm.Tier) -> Tier:
        return cls(id=strawberry.ID(str(t.id)), name=t.name, rank=t.rank, min_value=t.min_value)


@strawberry.input
class TierInput:
    id: strawberry.ID | None = None
    name: str
    rank: int
    min_value: int | None = strawberry.field(
        default=strawberry.UNSET, description="Qualifying activity; null = given by hand only"
    )


@strawberry.type
class TierPayload:
    tier: Tier | None = None
    errors: list[CatalogError] = strawberry.field(default_factory=list)


@strawberry.type
class DeletePayload:
    deleted: bool = False
    errors: list[CatalogError] = strawberry.field(default_factory=list)


@strawberry.type
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The first characters, to recognise a key")
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, k: m.ApiKey) -> ApiKey:
        return cls(
            id=strawberry.ID(str(k.id)),
            name=k.name,
            prefix=k.prefix,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey | None = None
    key: str | None = strawberry.field(
        default=None, description="The secret key. Shown once: it is stored only hashed."
    )
    errors: list[AccountError] = strawberry.field(default_factory=list)


@strawberry.type
class TokenPayload:
    token: str | None = None
    expires_at: datetime | None = None
    errors: list[AccountError] = strawberry.field(default_factory=list)


@strawberry.type
class AllowedOriginsPayload:
    origins: list[str] = strawberry.field(
        default_factory=list, description="The tenant's list as saved (unchanged on error)"
    )
    errors: list[AccountError] = strawberry.field(default_factory=list)
