"""The programme: member events, earning rules, what they awarded, the dry run."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import cast

import strawberry
from strawberry.scalars import JSON

from core.errors import DomainError, ErrorCode
from models.db.codes import DbCode
from models.pointmaster.codes import PointMasterCode
from models.points.codes import PointsCode
from models.programme import tables as m
from models.programme.codes import ProgrammeCode
from schema.common import error_codes, user_error

AwardKind = strawberry.enum(
    m.AwardKind,
    name="AwardKind",
    description="FIXED: `points` per event; PER_UNIT: `points` per `unitAmount` of the event's "
    "`unitProperty` (e.g. 1 point per 10 currency units), rounded by `rounding`",
)
Rounding = strawberry.enum(m.Rounding, name="Rounding", description="FLOOR, HALF_UP or CEIL")


ProgrammeErrorCode = error_codes(
    "ProgrammeErrorCode",
    ErrorCode.INVALID,
    ErrorCode.REQUIRED,
    ErrorCode.NOT_FOUND,
    ProgrammeCode,
    DbCode.TOO_LONG,
    ErrorCode.DUPLICATE,
    DbCode.IDEMPOTENCY_CONFLICT,
    ErrorCode.CONCURRENT_UPDATE,
    PointsCode.INSUFFICIENT_POINTS,
    PointsCode.BALANCE_LIMIT,
    PointMasterCode.NO_ADJUSTMENT_URL,  # follower mode: the master cannot be told
    PointMasterCode.NO_KEY,
    PointMasterCode.ADJUSTMENT_ENDPOINT_DISABLED,
)


@strawberry.type
class ProgrammeError:
    field: str | None
    message: str
    code: ProgrammeErrorCode  # type: ignore[valid-type]

    @classmethod
    def from_error(cls, exc: DomainError) -> ProgrammeError:
        return user_error(cls, exc)


@strawberry.type(description="An earning rule: on an event type, with conditions, award points")
class EarningRule:
    id: strawberry.ID
    name: str
    description: str
    event_type: str
    conditions: JSON = strawberry.field(
        description='{"all"|"any": [...]} of {"property", "op", "value"}; op: eq, ne, gt, gte, '
        "lt, lte, in, not_in, exists"
    )
    award_kind: AwardKind  # type: ignore[valid-type]
    points: int
    unit_amount: str | None = strawberry.field(description="A decimal, as a string")
    unit_property: str
    rounding: Rounding  # type: ignore[valid-type]
    point_definition_id: strawberry.ID
    pending_days: int
    validity_days: int | None
    cap_per_member_day: int | None
    cap_per_member_month: int | None
    cap_total: int | None
    active_from: datetime | None
    active_until: datetime | None
    active: bool
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, r: m.EarningRule) -> EarningRule:
        return cls(
            id=strawberry.ID(str(r.id)),
            name=r.name,
            description=r.description,
            event_type=r.event_type,
            conditions=cast(JSON, r.conditions),
            award_kind=m.AwardKind(r.award_kind),
            points=int(r.points),
            unit_amount=_decimal(r.unit_amount),
            unit_property=r.unit_property,
            rounding=m.Rounding(r.rounding),
            point_definition_id=strawberry.ID(str(r.point_definition_id)),
            pending_days=r.pending_days,
            validity_days=r.validity_days,
            cap_per_member_day=_int(r.cap_member_day),
            cap_per_member_month=_int(r.cap_member_month),
            cap_total=_int(r.cap_total),
            active_from=r.active_from,
            active_until=r.active_until,
            active=r.active,
            archived_at=r.archived_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


def _int(value: int | None) -> int | None:
    return int(value) if value is not None else None


def _decimal(value: Decimal | None) -> str | None:
    return format(Decimal(value).normalize(), "f") if value is not None else None


@strawberry.input(description="Fields left out keep their value (update)")
class EarningRuleInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    event_type: str | None = strawberry.UNSET
    conditions: JSON | None = strawberry.UNSET
    award_kind: AwardKind | None = strawberry.UNSET  # type: ignore[valid-type]
    points: int | None = strawberry.UNSET
    unit_amount: str | None = strawberry.field(
        default=strawberry.UNSET, description="Per-unit awards: the amount one unit is (e.g. 10)"
    )
    unit_property: str | None = strawberry.UNSET
    rounding: Rounding | None = strawberry.UNSET  # type: ignore[valid-type]
    point_definition_id: strawberry.ID | None = strawberry.UNSET
    pending_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Points wait this long (pending)"
    )
    validity_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Then expire after this long (null: never)"
    )
    cap_per_member_day: int | None = strawberry.UNSET
    cap_per_member_month: int | None = strawberry.UNSET
    cap_total: int | None = strawberry.UNSET
    active_from: datetime | None = strawberry.UNSET
    active_until: datetime | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.type
class EarningRulePayload:
    rule: EarningRule | None = None
    errors: list[ProgrammeError] = strawberry.field(default_factory=list)


@strawberry.type(description="A member event as stored")
class MemberEvent:
    id: strawberry.ID
    member_id: strawberry.ID
    type: str
    occurred_at: datetime
    received_at: datetime
    properties: JSON
    idempotency_key: str
    order_id: str | None

    @classmethod
    def from_model(cls, e: m.MemberEvent) -> MemberEvent:
        return cls(
            id=strawberry.ID(str(e.id)),
            member_id=strawberry.ID(str(e.member_id)),
            type=e.type,
            occurred_at=e.occurred_at,
            received_at=e.received_at,
            properties=cast(JSON, e.properties),
            idempotency_key=e.idempotency_key,
            order_id=e.order_id,
        )


@strawberry.type(description="Points a rule gave for an event (negative: taken back by a return)")
class RuleAward:
    id: strawberry.ID
    rule_id: strawberry.ID
    event_id: strawberry.ID
    point_definition_id: strawberry.ID
    points: int
    requested: int = strawberry.field(description="Before caps (or the balance, for a return)")
    note: str = strawberry.field(description="Why fewer points than requested")
    ledger_entry_id: strawberry.ID | None
    grant_id: strawberry.ID | None = strawberry.field(description="Pending or expiring points")
    forwarded_adjustment_id: strawberry.ID | None = strawberry.field(
        description="Sent to the point master (follower mode): see pointAdjustments"
    )
    reverses_id: strawberry.ID | None = strawberry.field(description="The award a return took back")

    @classmethod
    def from_model(cls, a: m.RuleAward) -> RuleAward:
        def opt(value: object) -> strawberry.ID | None:
            return strawberry.ID(str(value)) if value else None

        return cls(
            id=strawberry.ID(str(a.id)),
            rule_id=strawberry.ID(str(a.rule_id)),
            event_id=strawberry.ID(str(a.event_id)),
            point_definition_id=strawberry.ID(str(a.point_definition_id)),
            points=int(a.points),
            requested=int(a.requested),
            note=a.note,
            ledger_entry_id=opt(a.ledger_entry_id),
            grant_id=opt(a.grant_id),
            forwarded_adjustment_id=opt(a.forwarded_id),
            reverses_id=opt(a.reverses_id),
        )


@strawberry.input
class TrackEventInput:
    external_user_id: str
    type: str = strawberry.field(
        description="purchase (properties amount, currency, orderId), signup, birthday, review, "
        "referral, return (orderId, optional amount), or a custom type"
    )
    idempotency_key: str = strawberry.field(
        description="A re-sent event with it awards nothing new"
    )
    occurred_at: datetime | None = strawberry.field(default=None, description="Default: now")
    properties: JSON | None = None


@strawberry.type
class TrackEventPayload:
    event: MemberEvent | None = None
    awards: list[RuleAward] = strawberry.field(default_factory=list)
    points: int = 0
    replayed: bool = strawberry.field(
        default=False, description="The key was seen before: this is what it did then"
    )
    errors: list[ProgrammeError] = strawberry.field(default_factory=list)


@strawberry.type(description="What one rule would do with the simulated event")
class SimulatedAward:
    rule: EarningRule
    points: int = strawberry.field(description="What it would award now")
    requested: int = strawberry.field(description="Before caps")
    reason: str = strawberry.field(description="Why nothing or less (empty: awarded in full)")


@strawberry.type
class EventSimulation:
    awards: list[SimulatedAward]
    points: int
