"""Reports against a generated history: the liability equals the sum of the ledger."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from tortoise import connections

from core import clock
from models.db.bulk_statements import insert_rows
from models.db.transactions import atomic
from models.members.upserts import save_point_definition
from models.points.ledger import ensure_account, entry_row, grant_row
from models.points.tables import LedgerEntry, LedgerSource, PointAccount, PointGrant
from models.reports.points import daily_movements, liability
from tests.factories import default_definition, make_member, make_tenant

pytestmark = pytest.mark.usefixtures("db")

START = datetime(2026, 1, 1, tzinfo=UTC)
ENTRIES = 10_000
SOURCES = [LedgerSource.PURCHASE, LedgerSource.BONUS, LedgerSource.ADJUSTMENT]


async def _generated_history(tenant_id: UUID) -> list[dict[str, object]]:
    """ENTRIES ledger entries over 90 days on 40 accounts in two currencies (chained:
    each account's balance never below zero), 200 pending grants, inserted in bulk."""
    rng = random.Random(15)
    tokens = await save_point_definition(tenant_id, None, "tokens")
    definitions = [(await default_definition(tenant_id)).id, tokens.id]
    accounts = []
    for _ in range(20):
        member = await make_member(tenant_id)
        for definition_id in definitions:
            accounts.append(await ensure_account(tenant_id, member.id, definition_id))
    balance: dict[UUID, int] = defaultdict(int)
    seq: dict[UUID, int] = defaultdict(int)
    moments = sorted(START + timedelta(seconds=rng.randrange(90 * 86400)) for _ in range(ENTRIES))
    rows = []
    for at in moments:
        account = rng.choice(accounts)
        amount = rng.randrange(1, 500)
        if balance[account.id] > 0 and rng.random() < 0.4:
            amount = -rng.randrange(1, balance[account.id] + 1)
            source = rng.choice([LedgerSource.REDEMPTION, LedgerSource.EXPIRY])
        else:
            source = rng.choice(SOURCES)
        balance[account.id] += amount
        seq[account.id] += 1
        rows.append(
            entry_row(account, amount, source, balance_after=balance[account.id],
                      seq=seq[account.id], created_at=at, description="", actor="gen")
        )  # fmt: skip
    grants = []
    pending: dict[UUID, int] = defaultdict(int)
    for _ in range(200):
        account = rng.choice(accounts)
        made = START + timedelta(seconds=rng.randrange(90 * 86400))
        amount = rng.randrange(1, 1000)
        pending[account.id] += amount
        grants.append(
            grant_row(account, uuid4(), amount, LedgerSource.PURCHASE, description="",
                      actor="gen", valid_from=datetime(2027, 1, 1, tzinfo=UTC), valid_to=None,
                      pending=True, created_at=made)
        )  # fmt: skip
    async with atomic() as conn:
        await insert_rows(conn, LedgerEntry, rows)
        await insert_rows(conn, PointGrant, grants)
        for account in accounts:
            await PointAccount.filter(id=account.id).using_db(conn).update(
                balance=balance[account.id], pending=pending[account.id],
                ledger_seq=seq[account.id],
            )  # fmt: skip
    return rows + [dict(g, pending=True) for g in grants]


async def test_liability_equals_the_sum_of_the_ledger_for_10000_entries() -> None:
    # given a tenant with a generated history of 10,000 ledger entries and pending grants
    tenant = (await make_tenant()).tenant
    history = await _generated_history(tenant.id)
    entries = [r for r in history if "pending" not in r]
    assert len(entries) == ENTRIES
    conn = connections.get("default")
    sums = await conn.execute_query_dict(
        'SELECT a."definition_id" AS d, SUM(e."amount") AS n FROM "ledger_entry" AS e '
        'JOIN "point_account" AS a ON a."id" = e."account_id" GROUP BY a."definition_id"'
    )
    ledger = {str(r["d"]): int(r["n"]) for r in sums}
    cached = defaultdict(int)
    for a in await PointAccount.filter(tenant_id=tenant.id):
        cached[str(a.definition_id)] += a.pending

    # when the liability is reported now, and at a date in the middle of the history
    with clock.frozen_at(datetime(2026, 6, 1, tzinfo=UTC)):
        now = await liability(tenant.id, clock.now())
    middle = START + timedelta(days=45)
    then = await liability(tenant.id, middle)

    # then now it equals the sum of each currency's ledger, pending the sum of its grants
    assert {str(r.definition.id): r.active for r in now} == ledger
    assert {str(r.definition.id): r.pending for r in now} == dict(cached)
    # and at the date, the entries and grants made by then
    ledger_then: dict[str, int] = defaultdict(int)
    pending_then: dict[str, int] = defaultdict(int)
    accounts = {a.id: str(a.definition_id) for a in await PointAccount.filter(tenant_id=tenant.id)}
    for row in history:
        if row["created_at"] <= middle:  # type: ignore[operator]
            target = pending_then if "pending" in row else ledger_then
            target[accounts[row["account_id"]]] += row["amount"]  # type: ignore[index,operator]
    assert {str(r.definition.id): r.active for r in then} == dict(ledger_then)
    assert {str(r.definition.id): r.pending for r in then} == dict(pending_then)

    # and the daily report's movements add up to the same ledger
    days = await daily_movements(tenant.id, START, START + timedelta(days=91))
    assert len(days) == 90
    net = sum(d.earned - d.spent - d.expired + d.refunded + d.other for d in days)
    assert net == sum(ledger.values())
