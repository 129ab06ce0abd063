"""Members and their point accounts."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from models.members import tables as m
from models.points.grants import account_view
from models.points.tables import PointAccount as AccountModel
from models.points.tables import PointDefinition as DefinitionModel
from schema.common import MemberError, PageInfo
from schema.points import PointAccount
from schema.tenants import Tier


@strawberry.type
class Member:
    id: strawberry.ID
    external_user_id: str
    email: str | None
    name: str | None
    address: JSON | None
    created_at: datetime
    model: strawberry.Private[m.Member]

    @strawberry.field
    async def tier(self) -> Tier | None:
        if self.model.tier_id is None:
            return None
        tier = await m.Tier.get_or_none(id=self.model.tier_id, tenant_id=self.model.tenant_id)
        return Tier.from_model(tier) if tier else None

    @strawberry.field(description="One account per point currency the member has used")
    async def accounts(self) -> list[PointAccount]:
        accounts = await AccountModel.filter(
            member_id=self.model.id, tenant_id=self.model.tenant_id
        ).order_by("created_at")
        definitions = {
            d.id: d
            for d in await DefinitionModel.filter(id__in=[a.definition_id for a in accounts])
        }
        return [
            PointAccount.from_view(await account_view(a), definitions[a.definition_id])
            for a in accounts
        ]

    @classmethod
    def from_model(cls, member: m.Member) -> Member:
        return cls(
            id=strawberry.ID(str(member.id)),
            external_user_id=member.external_user_id,
            email=member.email,
            name=member.name,
            address=cast(JSON, member.address),
            created_at=member.created_at,
            model=member,
        )


@strawberry.type
class MemberConnection:
    nodes: list[Member]
    page_info: PageInfo


@strawberry.input
class MemberInput:
    external_user_id: str
    email: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    address: JSON | None = strawberry.UNSET
    tier_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type
class MemberPayload:
    member: Member | None = None
    created: bool = False
    errors: list[MemberError] = strawberry.field(default_factory=list)
