"""Reports for the admin console: points liability, points per day, redemptions per
reward, earning sources. Totals are `Long` (a tenant's sum can pass GraphQL Int's 2^31)."""

from __future__ import annotations

from datetime import date
from typing import NewType

import strawberry

from schema.points import PointDefinition

Long = NewType("Long", int)
LongScalar = strawberry.scalar(
    name="Long",
    description="A whole number up to 2^53 (sent as a JSON number)",
    serialize=int,
    parse_value=int,
)
"""Long's GraphQL scalar (schema.root maps the type to it)."""


@strawberry.type(description="What the tenant owed in one currency at the report's date")
class PointsLiability:
    point_definition: PointDefinition
    active: Long = strawberry.field(description="Spendable points members held")
    pending: Long = strawberry.field(description="Awarded points not valid yet")
    total: Long


@strawberry.type(description="Points moved on one UTC day")
class PointsDay:
    day: date
    earned: Long
    spent: Long = strawberry.field(description="By redemptions")
    expired: Long
    refunded: Long
    other: Long = strawberry.field(
        description="Deductions, returns and point-master syncs, net (signed)"
    )


@strawberry.type
class EarningSource:
    source: str
    points: Long
    postings: int


@strawberry.type
class RewardRedemptions:
    reward_id: strawberry.ID
    reward_name: str
    status: str
    redemptions: int
    quantity: int
    points: Long


@strawberry.type(description="An earning rule's awards in the range")
class RuleTotal:
    rule_id: strawberry.ID
    rule_name: str
    awards: int
    points: Long
    taken_back: Long = strawberry.field(description="Of those points, taken back by returns")
