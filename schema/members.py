"""Members and their point accounts."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from models.members import tables as m
from models.tenancy.facts import tenant_facts
from models.tiers.evaluation import current_activity
from models.tiers.tables import TierChange as TierChangeModel
from schema.common import MemberError, PageInfo
from schema.loaders import loaders, present
from schema.points import PointAccount
from schema.tenants import Tier
from schema.tiers import TierChange, TierStatus


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
    async def tier(self, info: strawberry.Info) -> Tier | None:
        if self.model.tier_id is None:
            return None
        tier = await loaders(info).tier.load(self.model.tier_id)
        return Tier.from_model(tier) if tier else None

    @strawberry.field(description="Computed tier: review date, grace, override, activity")
    async def tier_status(self) -> TierStatus:
        m_ = self.model
        return TierStatus(
            review_at=m_.tier_review_at,
            in_grace=m_.tier_in_grace,
            overridden=m_.tier_override,
            override_reason=m_.tier_override_reason,
            override_until=m_.tier_override_until,
            activity=await current_activity(m_.tenant_id, m_.id),
        )

    @strawberry.field(description="The member's tier changes, newest first")
    async def tier_history(self, first: int = 20) -> list[TierChange]:
        rows = (
            await TierChangeModel.filter(member_id=self.model.id, tenant_id=self.model.tenant_id)
            .order_by("-created_at", "-id")
            .limit(max(1, min(first, 100)))
        )
        return [TierChange.from_model(c) for c in rows]

    @strawberry.field(description="One account per point currency the member has used")
    async def accounts(self, info: strawberry.Info) -> list[PointAccount]:
        load = loaders(info)
        accounts = await load.accounts.load(self.model.id)
        views = await load.account_view.load_many(accounts)
        definitions = (await tenant_facts(self.model.tenant_id)).definitions
        return [
            await PointAccount.from_view(
                view, present(definitions.get(a.definition_id), "point definition", a.definition_id)
            )
            for a, view in zip(accounts, views, strict=True)
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
