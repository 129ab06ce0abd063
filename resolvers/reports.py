"""Reports (admins): liability at a date and activity over a range."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry

from core import clock
from core.errors import ErrorCode, InvalidInput
from models.reports.points import (
    daily_movements,
    earning_sources,
    liability,
    redemptions_by_reward,
    top_rules,
)
from resolvers.auth import ADMIN, parse_id, require
from resolvers.errors import query_error
from schema.points import PointDefinition
from schema.reports import (
    EarningSource,
    Long,
    PointsDay,
    PointsLiability,
    RewardRedemptions,
    RuleTotal,
)

MAX_RANGE = timedelta(days=731)
DEFAULT_RANGE = timedelta(days=30)


def report_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until): by default the last 30 days up to now; at most two years."""
    end = until or clock.now()
    start = since or end - DEFAULT_RANGE
    if start >= end:
        raise InvalidInput("`since` must be before `until`", field="since", code=ErrorCode.INVALID)
    if end - start > MAX_RANGE:
        raise InvalidInput(
            "Ask for at most two years at once", field="since", code=ErrorCode.INVALID
        )
    return start, end


async def points_liability(
    info: strawberry.Info, at: datetime | None = None
) -> list[PointsLiability]:
    principal = require(info, ADMIN)
    rows = await liability(principal.tenant_id, at or clock.now())
    return [
        PointsLiability(
            point_definition=PointDefinition.from_model(r.definition),
            active=Long(r.active),
            pending=Long(r.pending),
            total=Long(r.total),
        )
        for r in rows
    ]


async def points_by_day(
    info: strawberry.Info,
    since: datetime | None = None,
    until: datetime | None = None,
    point_definition_id: strawberry.ID | None = None,
) -> list[PointsDay]:
    principal = require(info, ADMIN)
    with query_error():
        start, end = report_range(since, until)
        definition_id = parse_id(point_definition_id, "pointDefinitionId")
        days = await daily_movements(principal.tenant_id, start, end, definition_id)
    return [
        PointsDay(
            day=d.day,
            earned=Long(d.earned),
            spent=Long(d.spent),
            expired=Long(d.expired),
            refunded=Long(d.refunded),
            other=Long(d.other),
        )
        for d in days
    ]


async def redemptions_per_reward(
    info: strawberry.Info, since: datetime | None = None, until: datetime | None = None
) -> list[RewardRedemptions]:
    principal = require(info, ADMIN)
    with query_error():
        start, end = report_range(since, until)
        rows = await redemptions_by_reward(principal.tenant_id, start, end)
    return [
        RewardRedemptions(
            reward_id=strawberry.ID(str(r.reward_id)),
            reward_name=r.reward_name,
            status=r.status,
            redemptions=r.redemptions,
            quantity=r.quantity,
            points=Long(r.points),
        )
        for r in rows
    ]


async def top_earning_sources(
    info: strawberry.Info, since: datetime | None = None, until: datetime | None = None
) -> list[EarningSource]:
    principal = require(info, ADMIN)
    with query_error():
        start, end = report_range(since, until)
        rows = await earning_sources(principal.tenant_id, start, end)
    return [
        EarningSource(source=r.source, points=Long(r.points), postings=r.postings) for r in rows
    ]


async def top_earning_rules(
    info: strawberry.Info, since: datetime | None = None, until: datetime | None = None
) -> list[RuleTotal]:
    principal = require(info, ADMIN)
    with query_error():
        start, end = report_range(since, until)
        rows = await top_rules(principal.tenant_id, start, end)
    return [
        RuleTotal(
            rule_id=strawberry.ID(str(r.rule_id)),
            rule_name=r.rule_name,
            awards=r.awards,
            points=Long(r.points),
            taken_back=Long(r.taken_back),
        )
        for r in rows
    ]
