"""Codes leaving and re-entering a pool, inside the redemption's own transaction.

A draw takes FREE, unexpired codes and marks them ASSIGNED to the redemption in one
statement per backend, so two concurrent redemptions never get the same code:
- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` inside the UPDATE: a code another
  transaction holds is skipped, not waited for, and a code it committed as ASSIGNED no
  longer matches `status = 'FREE'` when re-checked.
- SQLite: one writer at a time; the UPDATE repeats `status = 'FREE'`, and the count of
  changed rows is checked, so a code taken meanwhile is never taken twice.
Fewer codes than asked for is OUT_OF_STOCK, raised by the caller: the transaction rolls
back and nothing is half-written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from models.catalog.code_pools import drawable, free_at_least
from models.catalog.tables import CodePool, VoucherCode, VoucherCodeStatus
from models.webhooks.catalogue import low_stock
from models.webhooks.outbox import add_deliveries
from models.webhooks.tables import WebhookEvent

_TABLE = VoucherCode._meta.db_table
_DRAW_POSTGRES = f"""
UPDATE "{_TABLE}" SET "status" = 'ASSIGNED', "redemption_id" = $2, "assigned_at" = $3
WHERE "id" IN (
    SELECT "id" FROM "{_TABLE}"
    WHERE "pool_id" = $1 AND "status" = 'FREE' AND ("expires_at" IS NULL OR "expires_at" > $3)
    ORDER BY "id" LIMIT $4
    FOR UPDATE SKIP LOCKED
)
RETURNING "id", "code"
"""


async def draw_codes(
    conn: BaseDBAsyncClient, pool_id: UUID, redemption_id: UUID, quantity: int, now: datetime
) -> list[str]:
    """Up to `quantity` codes, now ASSIGNED to the redemption (fewer: the pool ran dry)."""
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            _DRAW_POSTGRES, [pool_id, redemption_id, now, quantity]
        )
        return [row["code"] for row in sorted(rows, key=lambda row: row["id"])]
    ids = (
        await VoucherCode.filter(Q(pool_id=pool_id) & drawable(now))
        .order_by("id")
        .limit(quantity)
        .using_db(conn)
        .values_list("id", flat=True)
    )
    taken = (
        await VoucherCode.filter(id__in=list(ids), status=VoucherCodeStatus.FREE)
        .using_db(conn)
        .update(status=VoucherCodeStatus.ASSIGNED, redemption_id=redemption_id, assigned_at=now)
    )
    if taken != len(ids):
        return []
    codes = (
        await VoucherCode.filter(redemption_id=redemption_id)
        .order_by("id")
        .using_db(conn)
        .values_list("code", flat=True)
    )
    return [str(code) for code in codes]


def fulfilment(codes: list[str]) -> dict[str, Any]:
    """What a pooled redemption gives its member (the widget shows `code`)."""
    return {"code": codes[0]} if len(codes) == 1 else {"codes": codes}


async def return_codes(
    conn: BaseDBAsyncClient, redemption_id: UUID, reward_id: UUID, now: datetime
) -> int:
    """A FAILED redemption's codes go back to the pool, unless an admin burnt them; back
    above the low-stock threshold, the next dip is announced again."""
    returned = await (
        VoucherCode.filter(redemption_id=redemption_id, status=VoucherCodeStatus.ASSIGNED)
        .using_db(conn)
        .update(status=VoucherCodeStatus.FREE, redemption_id=None, assigned_at=None)
    )
    pool = await CodePool.filter(reward_id=reward_id).using_db(conn).first() if returned else None
    if pool is not None and pool.low_stock_threshold is not None:
        if await free_at_least(pool.id, pool.low_stock_threshold, now, conn):
            await CodePool.filter(id=pool.id).using_db(conn).update(low_stock_sent_at=None)
    return returned


async def announce_low_stock(conn: BaseDBAsyncClient, pool: CodePool, now: datetime) -> int | None:
    """After a draw: if the free codes fell below the pool's threshold, the one redemption
    that finds the announcement unsent sends `reward.low_stock`. The free count is
    read up to the threshold only. Returns the remaining count when announced."""
    threshold = pool.low_stock_threshold
    if threshold is None or await free_at_least(pool.id, threshold, now, conn):
        return None
    claimed = (
        await CodePool.filter(id=pool.id, low_stock_sent_at__isnull=True)
        .using_db(conn)
        .update(low_stock_sent_at=now)
    )
    if not claimed:
        return None
    remaining = await VoucherCode.filter(Q(pool_id=pool.id) & drawable(now)).using_db(conn).count()
    body = low_stock(pool.reward_id, remaining, threshold, "code_pool", now)
    await add_deliveries(
        conn, pool.tenant_id, WebhookEvent.REWARD_LOW_STOCK.value, lambda _fmt: body, now=now
    )
    return remaining
