"""Point reports for the admin console and CSV exports: what the tenant owes (liability
at a date), points moved per day, where points were earned (sources, earning rules) and
redemptions per reward.

Computed in the database from the ledger and the grants (one grouped query each), so a
large tenant's report is as cheap as its rows are few.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from tortoise import connections

from models.catalog.tables import Reward
from models.db.params import query
from models.points.tables import (
    LedgerEntry,
    LedgerSource,
    PointAccount,
    PointDefinition,
    PointGrant,
)
from models.programme.tables import EarningRule, RuleAward
from models.redemptions.tables import Redemption

_ENTRIES = LedgerEntry._meta.db_table
_GRANTS = PointGrant._meta.db_table
_REDEMPTIONS = Redemption._meta.db_table
_REWARDS = Reward._meta.db_table
_RULE_AWARDS = RuleAward._meta.db_table
_RULES = EarningRule._meta.db_table
_ACCOUNTS = PointAccount._meta.db_table


@dataclass(frozen=True)
class Liability:
    definition: PointDefinition
    active: int  # spendable points the members held at the date
    pending: int  # points awarded by then whose valid-from was still ahead

    @property
    def total(self) -> int:
        return self.active + self.pending


@dataclass(frozen=True)
class DayMovements:
    day: date
    earned: int  # awarded points (not refunds, not point-master syncs)
    spent: int  # taken by redemptions (positive number)
    expired: int  # positive number
    refunded: int  # given back after failed redemptions
    other: int  # deductions, returns and syncs, net (signed)


@dataclass(frozen=True)
class SourceTotal:
    source: str
    points: int
    postings: int


def _is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


async def liability(tenant_id: UUID, at: datetime) -> list[Liability]:
    """Per currency of the tenant, what it owed at `at`: the sum of the ledger up to then
    (active) and the points of grants made by then that were still waiting (pending)."""
    definitions = await PointDefinition.filter(tenant_id=tenant_id).order_by("external_id")
    active = await query(
        f'SELECT a."definition_id" AS d, SUM(e."amount") AS n FROM "{_ENTRIES}" AS e '
        f'JOIN "{_ACCOUNTS}" AS a ON a."id" = e."account_id" '
        'WHERE e."tenant_id" = {} AND e."created_at" <= {} GROUP BY a."definition_id"',
        tenant_id,
        at,
    )
    pending = await query(
        f'SELECT a."definition_id" AS d, SUM(g."amount") AS n FROM "{_GRANTS}" AS g '
        f'JOIN "{_ACCOUNTS}" AS a ON a."id" = g."account_id" '
        'WHERE g."tenant_id" = {} AND g."created_at" <= {} AND g."valid_from" > {} '
        'GROUP BY a."definition_id"',
        tenant_id,
        at,
        at,
    )
    by_active = {str(r["d"]): int(r["n"] or 0) for r in active}
    by_pending = {str(r["d"]): int(r["n"] or 0) for r in pending}
    return [
        Liability(d, by_active.get(str(d.id), 0), by_pending.get(str(d.id), 0)) for d in definitions
    ]


def _day_column() -> str:
    if _is_postgres():
        return "(e.\"created_at\" AT TIME ZONE 'UTC')::date"
    return 'substr(e."created_at", 1, 10)'


async def daily_movements(
    tenant_id: UUID, start: datetime, end: datetime, definition_id: UUID | None = None
) -> list[DayMovements]:
    """Per UTC day with postings in [start, end), points by kind of movement."""
    sql = (
        f'SELECT {_day_column()} AS day, e."source" AS source, '
        'SUM(CASE WHEN e."amount" > 0 THEN e."amount" ELSE 0 END) AS plus, '
        'SUM(CASE WHEN e."amount" < 0 THEN e."amount" ELSE 0 END) AS minus '
        f'FROM "{_ENTRIES}" AS e '
    )
    values: list[object] = [tenant_id, start, end]
    where = 'WHERE e."tenant_id" = {} AND e."created_at" >= {} AND e."created_at" < {} '
    if definition_id is not None:
        sql += f'JOIN "{_ACCOUNTS}" AS a ON a."id" = e."account_id" '
        where += 'AND a."definition_id" = {} '
        values.append(definition_id)
    rows = await query(sql + where + "GROUP BY 1, 2 ORDER BY 1", *values)
    days: dict[date, dict[str, int]] = {}
    for row in rows:
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        kinds = days.setdefault(
            day, {"earned": 0, "spent": 0, "expired": 0, "refunded": 0, "other": 0}
        )
        plus, minus = int(row["plus"] or 0), int(row["minus"] or 0)
        source = row["source"]
        if source == LedgerSource.REDEMPTION:
            kinds["spent"] -= minus
            kinds["other"] += plus
        elif source == LedgerSource.EXPIRY:
            kinds["expired"] -= minus
            kinds["other"] += plus
        elif source == LedgerSource.REFUND:
            kinds["refunded"] += plus
            kinds["other"] += minus
        elif source == LedgerSource.BALANCE_SYNC:
            kinds["other"] += plus + minus
        else:
            kinds["earned"] += plus
            kinds["other"] += minus
    return [DayMovements(day, **kinds) for day, kinds in sorted(days.items())]


async def earning_sources(
    tenant_id: UUID, start: datetime, end: datetime, limit: int = 20
) -> list[SourceTotal]:
    """Sources of earned points in [start, end), most points first."""
    rows = await query(
        'SELECT e."source" AS source, SUM(e."amount") AS points, COUNT(*) AS postings '
        f'FROM "{_ENTRIES}" AS e WHERE e."tenant_id" = {{}} AND e."amount" > 0 '
        'AND e."created_at" >= {} AND e."created_at" < {} '
        f"AND e.\"source\" NOT IN ('{LedgerSource.REFUND.value}', "
        f"'{LedgerSource.BALANCE_SYNC.value}') "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {}",
        tenant_id,
        start,
        end,
        limit,
    )
    return [SourceTotal(r["source"], int(r["points"]), int(r["postings"])) for r in rows]


@dataclass(frozen=True)
class RewardRedemptions:
    reward_id: UUID
    reward_name: str
    status: str
    redemptions: int
    quantity: int
    points: int


async def redemptions_by_reward(
    tenant_id: UUID, start: datetime, end: datetime
) -> list[RewardRedemptions]:
    """Redemptions made in [start, end), per reward and status now, most first."""
    rows = await query(
        'SELECT r."reward_id" AS reward_id, w."name" AS name, r."status" AS status, '
        'COUNT(*) AS n, SUM(r."quantity") AS quantity, SUM(r."points_spent") AS points '
        f'FROM "{_REDEMPTIONS}" AS r JOIN "{_REWARDS}" AS w ON w."id" = r."reward_id" '
        'WHERE r."tenant_id" = {} AND r."created_at" >= {} AND r."created_at" < {} '
        "GROUP BY 1, 2, 3 ORDER BY 4 DESC, 2, 3",
        tenant_id,
        start,
        end,
    )
    return [
        RewardRedemptions(
            UUID(str(r["reward_id"])),
            r["name"],
            r["status"],
            int(r["n"]),
            int(r["quantity"] or 0),
            int(r["points"] or 0),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class RuleTotal:
    rule_id: UUID
    rule_name: str
    awards: int
    points: int  # awarded by the rule's awards in the range
    taken_back: int  # of those, taken back since by returns


async def top_rules(
    tenant_id: UUID, start: datetime, end: datetime, limit: int = 20
) -> list[RuleTotal]:
    """Earning rules by points awarded in [start, end), most first (takebacks of returns
    are not awards: they are counted against the award they reverse)."""
    rows = await query(
        'SELECT a."rule_id" AS rule_id, r."name" AS name, COUNT(*) AS n, '
        'SUM(a."points") AS points, SUM(a."taken_back") AS taken_back '
        f'FROM "{_RULE_AWARDS}" AS a JOIN "{_RULES}" AS r ON r."id" = a."rule_id" '
        'WHERE a."tenant_id" = {} AND a."created_at" >= {} AND a."created_at" < {} '
        'AND a."reverses_id" IS NULL AND a."points" > 0 '
        "GROUP BY 1, 2 ORDER BY 4 DESC, 2 LIMIT {}",
        tenant_id,
        start,
        end,
        limit,
    )
    return [
        RuleTotal(
            UUID(str(r["rule_id"])),
            r["name"],
            int(r["n"]),
            int(r["points"] or 0),
            int(r["taken_back"] or 0),
        )
        for r in rows
    ]
