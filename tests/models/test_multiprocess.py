"""The invariants across OS processes: two engines on one PostgreSQL database.

Each process has its own connection pool, so nothing in-process (an asyncio lock, a
shared connection) can be what keeps a balance, a stock, a limit, a refund or an
idempotency key honest: only the database. Both processes are released by one signal and
fire all their operations at once; on SQLite one file has one writer at a time, so these
run on PostgreSQL (DESIGN.md, STACK-NOTES.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from tortoise import connections

from core import clock
from models.catalog.code_pools import CodeEntry, add_codes
from models.catalog.tables import Reward, VoucherCode, VoucherCodeStatus
from models.members.tables import Member
from models.pointmaster.modes import set_point_mode
from models.pointmaster.settings import rotate_key, save_settings
from models.pointmaster.tables import SyncKind
from models.pointmaster.uploads import accept_batch, apply_batch
from models.points.awards import AwardRequest, award_points
from models.points.grants import settle_due
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent, RedemptionEventKind
from models.tenancy.tables import PointMode
from tests.dbsetup import is_postgres
from tests.factories import make_member, make_reward, make_tenant
from tests.models.test_races import seed_members
from tests.pointmaster.ingest import purchase, stamp

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("race_process.py")
PROCESSES = 2
MEMBERS_PER_PROCESS = 250
pytestmark = pytest.mark.skipif(
    not is_postgres(),
    reason="multi-process writers are required on PostgreSQL only; "
    "two processes writing one SQLite file are out of scope (DESIGN.md, STACK-NOTES.md)",
)
# Start-up, the race and shutdown of both processes; a hang fails the test instead.
TIMEOUT = 90.0


async def start_racer(argv: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def race_processes(
    db: str, tmp_path: Path, shares: list[list[dict[str, Any]]]
) -> Counter[str]:
    """One process per share of operations, released together; their outcomes added up."""
    argvs = []
    for n, operations in enumerate(shares):
        path = tmp_path / f"operations-{n}.json"
        path.write_text(json.dumps(operations))
        argvs.append([db, str(path)])
    procs = [await start_racer(argv) for argv in argvs]
    try:
        async with asyncio.timeout(TIMEOUT):
            for proc in procs:
                assert proc.stdout is not None
                ready = await proc.stdout.readline()
                if ready != b"READY\n":
                    _, err = await proc.communicate()
                    pytest.fail(f"racer did not start: {ready!r} {err.decode()}")
            for proc in procs:  # the common start signal
                assert proc.stdin is not None
                proc.stdin.write(b"GO\n")
            outputs = await asyncio.gather(*(proc.communicate() for proc in procs))
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    total: Counter[str] = Counter()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        total += Counter(json.loads(out.decode().strip().splitlines()[-1])["outcomes"])
    return total


def halves(operations: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Alternate operations between the two processes, so each kind runs in both."""
    return [operations[n::PROCESSES] for n in range(PROCESSES)]


async def balance_mismatches() -> list[dict[str, Any]]:
    _, rows = await connections.get("default").execute_query(
        "SELECT a.id, a.balance, COALESCE(SUM(e.amount), 0) AS total "
        "FROM point_account a LEFT JOIN ledger_entry e ON e.account_id = a.id "
        "GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0)"
    )
    return [dict(r) for r in rows]


async def balance_of(member_id: UUID) -> int:
    return (await PointAccount.get(member_id=member_id)).balance


def redeems(tenant: UUID, member: UUID, reward: UUID, times: int) -> list[dict[str, Any]]:
    op = {"kind": "redeem", "tenant": str(tenant), "member": str(member), "reward": str(reward)}
    return [op] * times


async def test_two_processes_redeeming_500_times_sell_exactly_the_stock(
    db: str, tmp_path: Path
) -> None:
    # given 500 members with enough points, a reward with 100 in stock, and two processes
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=100, stock=100)
    member_ids = await seed_members(t.tenant.id, PROCESSES * MEMBERS_PER_PROCESS, points=250)
    operations = [op for m in member_ids for op in redeems(t.tenant.id, m, reward.id, 1)]
    # when
    total = await race_processes(db, tmp_path, halves(operations))
    # then
    assert total == {"redeem:ok": 100, "redeem:OUT_OF_STOCK": 400}
    await reward.refresh_from_db()
    assert reward.stock == 0
    assert await Redemption.filter(reward_id=reward.id).count() == 100
    debits = await LedgerEntry.filter(tenant_id=t.tenant.id, source=LedgerSource.REDEMPTION)
    assert len(debits) == 100 and len({d.account_id for d in debits}) == 100
    assert await balance_mismatches() == []


async def test_two_processes_redeeming_2000_times_hand_out_each_pooled_code_once(
    db: str, tmp_path: Path
) -> None:
    # given 2,000 members with enough points, a reward whose pool holds 1,000 codes, and
    # two processes
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=100)
    codes = [f"POOL-{n:04d}" for n in range(1000)]
    await add_codes(t.tenant.id, reward.id, [CodeEntry(c) for c in codes])
    member_ids = await seed_members(t.tenant.id, 2000, points=150)
    operations = [op for m in member_ids for op in redeems(t.tenant.id, m, reward.id, 1)]
    # when they all redeem at once, 1,000 from each process
    started = time.monotonic()
    total = await race_processes(db, tmp_path, halves(operations))
    elapsed = time.monotonic() - started
    # then exactly 1,000 were fulfilled, each with its own code, and the rest refused
    assert total == {"redeem:ok": 1000, "redeem:OUT_OF_STOCK": 1000}, total
    fulfilled = await Redemption.filter(reward_id=reward.id).values_list(
        "status", "fulfillment_data"
    )
    assert {status for status, _ in fulfilled} == {"FULFILLED"} and len(fulfilled) == 1000
    handed_out = [data["code"] for _, data in fulfilled]
    assert sorted(handed_out) == codes
    assigned = await VoucherCode.filter(status=VoucherCodeStatus.ASSIGNED).values_list(
        "code", "redemption_id"
    )
    assert len(assigned) == 1000 and len({r for _, r in assigned}) == 1000
    # and only the 1,000 winners paid
    debits = await LedgerEntry.filter(tenant_id=t.tenant.id, source=LedgerSource.REDEMPTION)
    assert len(debits) == 1000
    assert await balance_mismatches() == []
    print(f"2,000 pooled redemptions from two processes in {elapsed:.1f} s")


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        pytest.param({}, {"redeem:ok": 5, "redeem:INSUFFICIENT_POINTS": 35}, id="balance"),
        pytest.param(
            {"per_member_limit": 3}, {"redeem:ok": 3, "redeem:LIMIT_REACHED": 37}, id="limit"
        ),
        pytest.param(
            {"cooldown_seconds": 3600}, {"redeem:ok": 1, "redeem:COOLDOWN": 39}, id="cooldown"
        ),
    ],
)
async def test_one_member_redeeming_from_two_processes_stays_within_its_gates(
    db: str, tmp_path: Path, gate: dict[str, int], expected: dict[str, int]
) -> None:
    # given one member with points for 5 redemptions (or 50 where a gate binds first)
    t = await make_tenant()
    points = 500 if not gate else 5000
    member = await make_member(t.tenant.id, points=points)
    reward = await make_reward(t.tenant.id, point_cost=100, **gate)
    # when two processes fire 40 redeems for it at once
    total = await race_processes(
        db, tmp_path, halves(redeems(t.tenant.id, member.id, reward.id, 40))
    )
    # then the gate holds exactly, and the balance is what the successes spent
    assert total == expected
    assert await balance_of(member.id) == points - 100 * expected["redeem:ok"]
    assert await Redemption.filter(member_id=member.id).count() == expected["redeem:ok"]
    assert await balance_mismatches() == []


@pytest.mark.parametrize("kind", ["award", "adjust"])
async def test_redeem_racing_a_deduction_never_spends_a_point_twice(
    db: str, tmp_path: Path, kind: str
) -> None:
    # given a member with 1,000 points
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=1000)
    reward = await make_reward(t.tenant.id, point_cost=100)
    deduction = {"kind": kind, "tenant": str(t.tenant.id), "member": str(member.id)}
    # when two processes fire 20 redeems of 100 and 20 deductions of 100 (a negative award,
    # or an adjustment by the backend) between them: twice what the member has
    operations = [
        op
        for pair in zip(
            redeems(t.tenant.id, member.id, reward.id, 20),
            [{**deduction, "amount": -100}] * 20,
            strict=True,
        )
        for op in pair
    ]
    total = await race_processes(db, tmp_path, halves(operations))
    # then exactly ten of them took points, the others were refused, and the balance is 0
    successes = total[f"{kind}:ok"] + total["redeem:ok"]
    refusals = total[f"{kind}:INSUFFICIENT_POINTS"] + total["redeem:INSUFFICIENT_POINTS"]
    assert (successes, refusals) == (10, 30), total
    assert await balance_of(member.id) == 0
    assert await balance_mismatches() == []


async def test_admin_cancel_racing_a_failed_callback_refunds_once(db: str, tmp_path: Path) -> None:
    # given 30 redemptions of 100 points each, all REDEEMED
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=3000)
    reward = await make_reward(t.tenant.id, point_cost=100, stock=30)
    redemptions = [
        await redeem(RedeemRequest(t.tenant.id, member.id, reward.id)) for _ in range(30)
    ]
    assert await balance_of(member.id) == 0
    # when one process cancels each as an admin while the other reports each FAILED
    shares = [
        [
            {
                "kind": "transition",
                "tenant": str(t.tenant.id),
                "redemption": str(r.id),
                "target": "FAILED",
                "via": via,
            }
            for r in redemptions
        ]
        for via in ("ADMIN", "CALLBACK")
    ]
    total = await race_processes(db, tmp_path, shares)
    # then every call succeeds (the loser finds it FAILED already: a repeated outcome)
    assert total == {"transition:ok": 60}
    # and each redemption was refunded and restocked exactly once
    refunds = await LedgerEntry.filter(account__member_id=member.id, source=LedgerSource.REFUND)
    assert len(refunds) == 30 and {e.redemption_id for e in refunds} == {r.id for r in redemptions}
    assert await balance_of(member.id) == 3000
    assert (await Reward.get(id=reward.id)).stock == 30
    refunded_events = await RedemptionEvent.filter(
        redemption_id__in=[r.id for r in redemptions], kind=RedemptionEventKind.POINTS_REFUNDED
    ).count()
    assert refunded_events == 30
    assert await balance_mismatches() == []


async def test_one_adjustment_key_from_two_processes_applies_once(db: str, tmp_path: Path) -> None:
    # given a member, and one idempotency key its backend retries from two processes
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=100)
    adjustment = {
        "kind": "adjust",
        "tenant": str(t.tenant.id),
        "member": str(member.id),
        "amount": 250,
        "key": "order-7-bonus",
    }
    reused = {**adjustment, "amount": 999}  # the same key for another request
    # when 20 identical requests and 10 with another amount race
    total = await race_processes(db, tmp_path, halves([adjustment] * 20 + [reused] * 10))
    # then whichever request claimed the key first is applied, once: its copies all answer
    # as it did, the other request's are conflicts
    winner = adjustment if total["adjust:ok"] == 20 else reused
    copies = 20 if winner is adjustment else 10
    assert total == {"adjust:ok": copies, "adjust:IDEMPOTENCY_CONFLICT": 30 - copies}, total
    assert await balance_of(member.id) == 100 + winner["amount"]
    automation = await LedgerEntry.filter(
        account__member_id=member.id, source=LedgerSource.AUTOMATION
    )
    assert [e.amount for e in automation] == [winner["amount"]]
    assert await balance_mismatches() == []


async def test_one_upload_applied_by_two_processes_posts_each_item_once(
    db: str, tmp_path: Path
) -> None:
    # given a tenant whose master sends transactions, and one upload of 300 items that
    # reached the engine twice (the master retried), as two stored batches, twice over
    t = await make_tenant()
    await set_point_mode(t.tenant.id, PointMode.FOLLOWER_TRANSACTIONS, actor="test")
    items = [purchase(f"c-{n % 30}", 10 + n % 7, n, transactionId=f"t-{n}") for n in range(300)]
    batches = [
        await accept_batch(t.tenant.id, SyncKind.TRANSACTIONS, part)
        for part in (items[:150], items[:150], items[150:], items[150:])
    ]
    # when two processes apply them at once, each one copy of each half
    shares = [
        [{"kind": "apply_batch", "batch": str(b.id)} for b in batches[n::PROCESSES]]
        for n in range(PROCESSES)
    ]
    total = await race_processes(db, tmp_path, shares)
    # then every batch was applied, and every item posted exactly once
    assert total == {"apply_batch:ok": 4}
    entries = await LedgerEntry.filter(tenant_id=t.tenant.id, source=LedgerSource.PURCHASE)
    assert len(entries) == 300
    assert sum(e.amount for e in entries) == sum(i["amount"] for i in items)
    assert await balance_mismatches() == []


async def test_redeem_racing_the_expiry_cron_spends_no_expired_point(
    db: str, tmp_path: Path
) -> None:
    # given a member whose only 1,000 points expired a minute ago, not yet settled
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    real_now = clock.now()
    with clock.frozen_at(real_now - timedelta(hours=1)):
        await award_points(
            AwardRequest(
                tenant_id=t.tenant.id,
                member_id=member.id,
                definition_id=None,
                amount=1000,
                source=LedgerSource.PURCHASE,
                valid_to=real_now - timedelta(minutes=1),
            )
        )
    reward = await make_reward(t.tenant.id, point_cost=100)
    # when one process fires 15 redeems while the other runs the expiry cron 5 times
    shares = [
        redeems(t.tenant.id, member.id, reward.id, 15),
        [{"kind": "settle"}] * 5,
    ]
    total = await race_processes(db, tmp_path, shares)
    await settle_due()
    # then expired points were never spent: every redeem was refused, the points expired once
    assert total == {"redeem:INSUFFICIENT_POINTS": 15, "settle:ok": 5}, total
    expired = await LedgerEntry.filter(account__member_id=member.id, source=LedgerSource.EXPIRY)
    assert [e.amount for e in expired] == [-1000]
    assert await balance_of(member.id) == 0
    assert await balance_mismatches() == []


async def test_redeem_racing_balance_snapshots_keeps_the_ledger_whole(
    db: str, tmp_path: Path
) -> None:
    # given a member of a balance-following tenant with 500 points from its master, and a
    # link to tell the master of redemptions
    t = await make_tenant()
    await set_point_mode(t.tenant.id, PointMode.FOLLOWER_BALANCE, actor="test")
    await save_settings(
        t.tenant.id, "test", allow_private=True, adjustment_url="http://127.0.0.1:9/master"
    )
    await rotate_key(t.tenant.id, "test")
    first = await accept_batch(t.tenant.id, SyncKind.BALANCES, [balance_item("c-1", 500, 0)])
    assert (await apply_batch(first.id)) is not None
    member = await Member.get(tenant_id=t.tenant.id, external_user_id="c-1")
    reward = await make_reward(t.tenant.id, point_cost=100)
    # when one process redeems ten times while the other applies ten newer snapshots of 300
    snapshots = [
        await accept_batch(t.tenant.id, SyncKind.BALANCES, [balance_item("c-1", 300, n)])
        for n in range(1, 11)
    ]
    shares = [
        redeems(t.tenant.id, member.id, reward.id, 10),
        [{"kind": "apply_batch", "batch": str(b.id)} for b in snapshots],
    ]
    total = await race_processes(db, tmp_path, shares)
    # then every snapshot was applied, no redemption spent points the account did not have,
    # and the cached balance is the sum of the ledger, never below zero
    assert total["apply_batch:ok"] == 10
    assert total["redeem:ok"] + total["redeem:INSUFFICIENT_POINTS"] == 10, total
    debits = await LedgerEntry.filter(account__member_id=member.id, source=LedgerSource.REDEMPTION)
    assert len(debits) == total["redeem:ok"]
    assert await balance_of(member.id) >= 0
    assert await balance_mismatches() == []


def balance_item(contact: str, amount: int, n: int) -> dict[str, Any]:
    return {"contactId": contact, "amount": amount, "definitionId": 1, "timeStamp": stamp(n)}
