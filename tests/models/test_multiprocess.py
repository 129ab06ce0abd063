"""Invariant 1 across OS processes: two engines on one PostgreSQL database.

Each process has its own connection pool, so nothing in-process (an asyncio lock, a
shared connection) can be what keeps the stock from being oversold: only the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections

from models.points import LedgerEntry, LedgerSource
from models.redemptions import Redemption
from tests.dbsetup import is_postgres
from tests.factories import make_reward, make_tenant
from tests.models.test_races import seed_members

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("race_process.py")
PROCESSES = 2
MEMBERS_PER_PROCESS = 250
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


async def race_processes(argvs: list[list[str]]) -> list[dict[str, Any]]:
    """Start one process per argv, release them together, return their JSON reports."""
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
    reports = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    return reports


async def balance_mismatches() -> list[dict[str, Any]]:
    _, rows = await connections.get("default").execute_query(
        "SELECT a.id, a.balance, COALESCE(SUM(e.amount), 0) AS total "
        "FROM point_account a LEFT JOIN ledger_entry e ON e.account_id = a.id "
        "GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0)"
    )
    return [dict(r) for r in rows]


@pytest.mark.skipif(
    not is_postgres(),
    reason="multi-process writers are required on PostgreSQL only; "
    "two processes writing one SQLite file are out of scope (DESIGN.md, STACK-NOTES.md)",
)
async def test_two_processes_redeeming_500_times_sell_exactly_the_stock(
    db: str, tmp_path: Path
) -> None:
    # given 500 members with enough points, a reward with 100 in stock, and two processes
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=100, stock=100)
    member_ids = await seed_members(t.tenant.id, PROCESSES * MEMBERS_PER_PROCESS, points=250)
    argvs = []
    for n in range(PROCESSES):
        share = member_ids[n * MEMBERS_PER_PROCESS : (n + 1) * MEMBERS_PER_PROCESS]
        members_file = tmp_path / f"members-{n}.txt"
        members_file.write_text("\n".join(str(m) for m in share))
        argvs.append([db, str(t.tenant.id), str(reward.id), str(members_file)])
    # when
    reports = await race_processes(argvs)
    # then the two processes really raced: their redeem windows overlap
    first, second = reports
    assert first["started"] < second["finished"] and second["started"] < first["finished"]
    total = sum((Counter(r["outcomes"]) for r in reports), Counter())
    assert total == {"ok": 100, "OUT_OF_STOCK": 400}
    await reward.refresh_from_db()
    assert reward.stock == 0
    assert await Redemption.filter(reward_id=reward.id).count() == 100
    debits = await LedgerEntry.filter(tenant_id=t.tenant.id, source=LedgerSource.REDEMPTION)
    assert len(debits) == 100 and len({d.account_id for d in debits}) == 100
    assert await balance_mismatches() == []
