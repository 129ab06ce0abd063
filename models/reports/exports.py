"""Reports as CSV rows, produced a page at a time so a large tenant's export streams
(the engine's `/api/v1/reports/{name}.csv` sends them as they come)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from uuid import UUID

from tortoise.expressions import Q

from core.errors import NotFound
from models.points.tables import LedgerEntry
from models.reports.points import (
    daily_movements,
    earning_sources,
    liability,
    redemptions_by_reward,
    top_rules,
)

PAGE = 2000


def _line(values: Iterable[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(
        ["" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in values]
    )
    return out.getvalue()


async def _liability(tenant_id: UUID, start: datetime, end: datetime) -> AsyncIterator[str]:
    yield _line(["point_definition", "definition_id", "active", "pending", "total", "at"])
    for row in await liability(tenant_id, end):
        d = row.definition
        yield _line([d.name, d.external_id, row.active, row.pending, row.total, end])


async def _points_by_day(tenant_id: UUID, start: datetime, end: datetime) -> AsyncIterator[str]:
    yield _line(["day", "earned", "spent", "expired", "refunded", "other"])
    for d in await daily_movements(tenant_id, start, end):
        yield _line([d.day.isoformat(), d.earned, d.spent, d.expired, d.refunded, d.other])


async def _redemptions(tenant_id: UUID, start: datetime, end: datetime) -> AsyncIterator[str]:
    yield _line(["reward_id", "reward", "status", "redemptions", "quantity", "points"])
    for r in await redemptions_by_reward(tenant_id, start, end):
        yield _line([r.reward_id, r.reward_name, r.status, r.redemptions, r.quantity, r.points])


async def _sources(tenant_id: UUID, start: datetime, end: datetime) -> AsyncIterator[str]:
    yield _line(["source", "points", "postings"])
    for s in await earning_sources(tenant_id, start, end, limit=1000):
        yield _line([s.source, s.points, s.postings])


async def _rules(tenant_id: UUID, start: datetime, end: datetime) -> AsyncIterator[str]:
    yield _line(["rule_id", "rule", "awards", "points", "taken_back"])
    for r in await top_rules(tenant_id, start, end, limit=1000):
        yield _line([r.rule_id, r.rule_name, r.awards, r.points, r.taken_back])


async def _ledger(tenant_id: UUID, start: datetime, end: datetime) -> AsyncIterator[str]:
    """Every posting in [start, end), oldest first, read a page at a time (keyset)."""
    yield _line(
        ["created_at", "entry_id", "external_user_id", "point_definition", "amount",
         "balance_after", "source", "description", "actor"]
    )  # fmt: skip
    after: tuple[datetime, UUID] | None = None
    while True:
        query = LedgerEntry.filter(tenant_id=tenant_id, created_at__gte=start, created_at__lt=end)
        if after is not None:
            query = query.filter(
                Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1])
            )
        rows = (
            await query.order_by("created_at", "id")
            .limit(PAGE)
            .values(
                "id",
                "created_at",
                "amount",
                "balance_after",
                "source",
                "description",
                "actor",
                "account__member__external_user_id",
                "account__definition__name",
            )
        )
        for r in rows:
            yield _line(
                [r["created_at"], r["id"], r["account__member__external_user_id"],
                 r["account__definition__name"], r["amount"], r["balance_after"], r["source"],
                 r["description"], r["actor"]]
            )  # fmt: skip
        if len(rows) < PAGE:
            return
        after = (rows[-1]["created_at"], rows[-1]["id"])


REPORTS = {
    "liability": _liability,
    "points-by-day": _points_by_day,
    "redemptions-by-reward": _redemptions,
    "earning-sources": _sources,
    "top-rules": _rules,
    "ledger": _ledger,
}


def csv_report(name: str, tenant_id: UUID, start: datetime, end: datetime) -> AsyncIterator[str]:
    """The report's lines; NotFound for an unknown name. `liability` is at `end`."""
    report = REPORTS.get(name)
    if report is None:
        raise NotFound(f"No report '{name}'; try: {', '.join(REPORTS)}", field="name")
    return report(tenant_id, start, end)
