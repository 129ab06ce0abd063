"""Point currencies, accounts and the ledger."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from models.pointmaster.modes import definition_mode
from models.points import tables as m
from models.points.grants import AccountView
from models.tenancy.tables import PointMode as PointModeModel
from schema.common import CatalogError, PageInfo, PointsError, is_member
from schema.loaders import loaders

LedgerSource = strawberry.enum(m.LedgerSource, name="LedgerSource")
GrantStatus = strawberry.enum(m.GrantStatus, name="GrantStatus")


ExpiryPolicy = strawberry.enum(
    m.ExpiryPolicy,
    name="ExpiryPolicy",
    description="When points awarded without a validTo expire: NEVER; AFTER_DAYS / "
    "AFTER_MONTHS (expiryValue of them after earning); END_OF_MONTH / END_OF_YEAR (at the "
    "end of the month/year of earning, plus expiryValue months/years; midnight UTC)",
)
MAX_GRANTS_LISTED = 100


@strawberry.enum(description="Who owns the points")
class PointMode(Enum):
    MASTER = "MASTER"
    FOLLOWER_BALANCE = "FOLLOWER_BALANCE"
    FOLLOWER_TRANSACTIONS = "FOLLOWER_TRANSACTIONS"


@strawberry.type
class PointDefinition:
    id: strawberry.ID
    name: str
    description: str
    external_id: int = strawberry.field(description="`definitionId` in the point-master API")
    is_default: bool
    point_mode: PointMode | None = strawberry.field(
        description="This currency's own point mode; null = it follows the tenant's"
    )
    expiry_policy: ExpiryPolicy  # type: ignore[valid-type]
    expiry_value: int | None
    model: strawberry.Private[m.PointDefinition]

    @strawberry.field(description="The mode that governs this currency")
    async def effective_point_mode(self) -> PointMode:
        return PointMode((await definition_mode(self.model)).value)

    @classmethod
    def from_model(cls, d: m.PointDefinition) -> PointDefinition:
        return cls(
            id=strawberry.ID(str(d.id)),
            name=d.name,
            description=d.description,
            external_id=d.external_id,
            is_default=d.is_default,
            point_mode=PointMode(str(d.point_mode)) if d.point_mode else None,
            expiry_policy=m.ExpiryPolicy(d.expiry_policy),
            expiry_value=d.expiry_value,
            model=d,
        )


@strawberry.type
class PointAccount:
    id: strawberry.ID
    point_definition: PointDefinition
    balance: int = strawberry.field(description="Spendable (active) points")
    view: strawberry.Private[AccountView]
    definition: strawberry.Private[m.PointDefinition]
    mode: strawberry.Private[PointModeModel]  # the currency's (definition_mode)

    @strawberry.field(
        description="In FOLLOWER_BALANCE mode the point master sends totals only: the history "
        "of this account is its points log (`pointsLog`), and what needs it is null here"
    )
    def history_at_master(self) -> bool:
        return _at_master(self)

    @strawberry.field(description="Points whose validFrom is still ahead (null: history at master)")
    def pending(self) -> int | None:
        return None if _at_master(self) else self.view.pending

    @strawberry.field(description="Active points expiring within 30 days (null: history at master)")
    def expiring_soon(self) -> int | None:
        return None if _at_master(self) else self.view.expiring_soon

    @strawberry.field(description="null also when the history is at the master")
    def next_expiry_at(self) -> datetime | None:
        return None if _at_master(self) else self.view.next_expiry_at

    @strawberry.field(
        description="Points with a validity window on this account, oldest first, of the "
        "given statuses (all when none); FAILED ones could not be settled (see settleError)"
    )
    async def grants(
        self,
        info: strawberry.Info,
        status: list[GrantStatus] | None = None,  # type: ignore[valid-type]
    ) -> list[Annotated[PointGrant, strawberry.lazy("schema.points")]]:
        statuses = tuple(dict.fromkeys(m.GrantStatus(s) for s in status or ()))
        rows = await loaders(info).grants.load((self.view.account.id, statuses))
        hide_errors = is_member(info)
        return [PointGrant.from_model(g, with_error=not hide_errors) for g in rows]

    @classmethod
    async def from_view(cls, view: AccountView, definition: m.PointDefinition) -> PointAccount:
        return cls(
            id=strawberry.ID(str(view.account.id)),
            point_definition=PointDefinition.from_model(definition),
            balance=view.active,
            view=view,
            definition=definition,
            mode=await definition_mode(definition),
        )


def _at_master(account: PointAccount) -> bool:
    return account.mode == PointModeModel.FOLLOWER_BALANCE


@strawberry.type
class LedgerEntry:
    id: strawberry.ID
    account_id: strawberry.ID
    amount: int
    balance_before: int
    balance_after: int
    source: LedgerSource  # type: ignore[valid-type]
    source_name: str | None = strawberry.field(
        description="The source as the point master sent it (e.g. 'Campaign', stored as "
        "OTHER); null for entries the point master did not send"
    )
    description: str
    valid_from: datetime | None
    valid_to: datetime | None
    redemption_id: strawberry.ID | None
    actor: str
    created_at: datetime

    @classmethod
    def from_model(cls, e: m.LedgerEntry) -> LedgerEntry:
        return cls(
            id=strawberry.ID(str(e.id)),
            account_id=strawberry.ID(str(e.account_id)),
            amount=e.amount,
            balance_before=e.balance_before,
            balance_after=e.balance_after,
            source=m.LedgerSource(e.source),
            source_name=e.source_name,
            description=e.description,
            valid_from=e.valid_from,
            valid_to=e.valid_to,
            redemption_id=strawberry.ID(str(e.redemption_id)) if e.redemption_id else None,
            actor=e.actor,
            created_at=e.created_at,
        )


@strawberry.type
class PointGrant:
    """Points with a validity window (pending until validFrom, expiring at validTo)."""

    id: strawberry.ID
    amount: int
    remaining: int
    status: GrantStatus  # type: ignore[valid-type]
    valid_from: datetime | None
    valid_to: datetime | None
    settle_error: str | None = strawberry.field(
        default=None,
        description="Why the cron could not settle it (FAILED); null for member tokens",
    )

    @classmethod
    def from_model(cls, g: m.PointGrant, *, with_error: bool = True) -> PointGrant:
        return cls(
            id=strawberry.ID(str(g.id)),
            amount=g.amount,
            remaining=g.remaining,
            status=m.GrantStatus(g.status),
            valid_from=g.valid_from,
            valid_to=g.valid_to,
            settle_error=g.settle_error if with_error else None,
        )


@strawberry.type
class LedgerConnection:
    nodes: list[LedgerEntry]
    page_info: PageInfo


@strawberry.input
class AwardPointsInput:
    member_id: strawberry.ID | None = None
    external_user_id: str | None = None
    point_definition_id: strawberry.ID | None = None
    amount: int
    source: LedgerSource = m.LedgerSource.ADJUSTMENT  # type: ignore[valid-type]
    description: str = ""
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    idempotency_key: str | None = None


@strawberry.type
class PointsPayload:
    entry: LedgerEntry | None = None
    grant: PointGrant | None = None
    account: PointAccount | None = None
    errors: list[PointsError] = strawberry.field(default_factory=list)


@strawberry.input
class PointDefinitionInput:
    id: strawberry.ID | None = None
    name: str
    description: str = ""
    expiry_policy: ExpiryPolicy | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Unchanged when null (NEVER for a new currency)"
    )
    expiry_value: int | None = None


@strawberry.type
class PointDefinitionPayload:
    point_definition: PointDefinition | None = None
    errors: list[CatalogError] = strawberry.field(default_factory=list)
