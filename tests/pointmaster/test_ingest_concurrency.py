"""Workers applying uploads that touch the same accounts at the same time.

On PostgreSQL each apply_batch below runs its chunks on its own pooled connection, so the
batches really interleave in the database and only its row locks and unique index keep
them apart; on SQLite the engine's one connection serialises their transactions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from models.pointmaster.applying import CHUNK_ITEMS
from models.pointmaster.uploads import apply_batch
from models.points.tables import LedgerEntry
from tests.pointmaster.conftest import Follower
from tests.pointmaster.ingest import (
    account_of,
    assert_chained,
    post,
    post_and_apply,
    purchase,
    stamp,
)

CONTACTS = 40


async def test_overlapping_transaction_batches_apply_each_item_once(
    transactions_follower: Follower,
) -> None:
    # given contacts with points, and four uploads over the same contacts: each with its
    # own credits and deductions, and all with the same block of shared items
    seed = [purchase(f"c-{n}", 1000, n) for n in range(CONTACTS)]
    await post_and_apply(transactions_follower, "transactions", seed)
    shared = [purchase(f"c-{n % CONTACTS}", 3, 10_000 + n) for n in range(CHUNK_ITEMS // 2)]
    uploads: list[list[dict[str, Any]]] = []
    for u in range(4):
        own = [
            purchase(
                f"c-{(n * 7 + u) % CONTACTS}", -(1 + n % 4) if n % 3 else 5, 1000 * (u + 1) + n
            )
            for n in range(CHUNK_ITEMS + 30)
        ]
        uploads.append(own[: CHUNK_ITEMS // 2] + shared + own[CHUNK_ITEMS // 2 :])
    ids = [await post(transactions_follower, "transactions", body) for body in uploads]

    # when the four are applied at once
    batches = await asyncio.gather(*(apply_batch(i) for i in ids))

    # then every distinct item is applied exactly once, on chained balances
    distinct = {item["timeStamp"] + item["contactId"]: item for body in uploads for item in body}
    assert all(b is not None and b.status == "Completed" for b in batches)
    assert sum(b.applied_count for b in batches if b) == len(distinct)
    tenant_id = transactions_follower.tenant_id
    entries = await LedgerEntry.filter(tenant_id=tenant_id).count()
    assert entries == len(seed) + len(distinct)
    for n in range(CONTACTS):
        account = await account_of(tenant_id, f"c-{n}")
        assert account is not None
        await assert_chained(account)
        mine = [i["amount"] for i in distinct.values() if i["contactId"] == f"c-{n}"]
        assert account.balance == 1000 + sum(mine)


async def test_concurrent_balance_batches_end_on_the_newest_snapshot(
    balances_follower: Follower,
) -> None:
    # given two uploads of the same accounts' totals, the second one's snapshots newer
    count = CHUNK_ITEMS + 40

    def totals(hour: int, amount: int) -> list[dict[str, Any]]:
        return [
            {"contactId": f"c-{n}", "amount": amount + n, "definitionId": 1,
             "timeStamp": stamp(3600 * hour)}
            for n in range(count)
        ]  # fmt: skip

    older = await post(balances_follower, "balances", totals(1, 100))
    newer = await post(balances_follower, "balances", totals(2, 500))

    # when both are applied at once
    applied = await asyncio.gather(apply_batch(newer), apply_batch(older))

    # then every account ends on the newer total, whatever the interleaving, with a
    # BALANCE_SYNC history that chains
    assert all(b is not None for b in applied)
    for n in range(count):
        account = await account_of(balances_follower.tenant_id, f"c-{n}")
        assert account is not None
        assert account.balance == 500 + n
        assert 1 <= len(await assert_chained(account)) <= 2
    # and each item of the older one was either applied before the newer one reached its
    # account, or ignored with the reason said
    late = applied[1]
    assert late is not None
    assert late.applied_count + len(late.messages) == count, late.messages
    for message in late.messages:
        assert "is older than the last applied one" in message["message"]
