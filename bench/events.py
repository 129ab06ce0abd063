#!/usr/bin/env python
"""Member events: how fast `POST /api/v1/events` accepts and applies 1,000-event batches on
PostgreSQL (issue 15; target: a 1,000-event batch applied in < 1 s, like the ingest).

Run by hand from the repository root (not a test):

    . .venv/bin/activate
    python bench/events.py                    # 5 batches of 1,000 events
    python bench/events.py --runs 10 --members 500

`--pg-url` (or `BENCH_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres) names a
server whose role may CREATE DATABASE. No Redis: live updates are not part of the figure.

What it does:
  1. creates a database gamify_bench_<random>, migrates it, seeds a tenant with an API key,
     --members members and four earning rules (per-unit purchases with a condition and a
     daily cap, a fixed bonus on big baskets, pending + expiring points on reviews, a fixed
     referral bonus);
  2. starts `uvicorn --factory engine.app:app_from_env` (one process) on it; warms it up
     with one small batch;
  3. per run, POSTs a batch of --events events (70% purchases with amounts and order ids,
     15% reviews, 10% returns of earlier purchases, 5% referrals) over one keep-alive
     connection and times the round trip: the answer comes once every event is stored and
     its rules applied (the endpoint applies in the request), so accepted = applied;
  4. re-sends the first batch (every event a replay: what a retry costs);
  5. checks the database: events and awards counted, every account's balance equals the
     sum of its ledger; prints per batch p50 / max, events/s, and the machine's load;
  6. stops the server and drops the database (also on an error or Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from measure import free_port, log, machine_cpu, with_database  # noqa: E402

BASE_TIME = datetime.now(UTC) - timedelta(days=2)


async def pg(url: str, query: str) -> None:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(query)
    finally:
        await conn.close()


async def seed(db_url: str, members: int) -> tuple[str, list[str]]:
    """Migrate, then a tenant, its API key, members and rules through the domain functions."""
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate

    from core.settings import tortoise_config
    from models.members.upserts import upsert_member
    from models.programme.rules import RuleFields, create_rule
    from models.programme.tables import AwardKind
    from models.tenancy.access import create_api_key, create_tenant

    config = tortoise_config(db_url, pool_size=5)
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        new = await create_tenant("Bench", "bench", "admin@bench.test", secrets.token_hex(16))
        tenant_id = new.tenant.id
        _, key = await create_api_key(tenant_id, "bench")
        ext = [f"m-{n}" for n in range(members)]
        for e in ext:
            await upsert_member(tenant_id, e)
        rules = [
            RuleFields(name="1 per 10 spent", event_type="purchase", award_kind=AwardKind.PER_UNIT,
                       points=1, unit_amount="10", cap_member_day=5000,
                       conditions={"all": [{"property": "currency", "op": "eq", "value": "EUR"}]}),
            RuleFields(name="Big basket", event_type="purchase", award_kind=AwardKind.FIXED,
                       points=50, conditions={"all": [{"property": "amount", "op": "gte", "value": 200}]}),
            RuleFields(name="Review", event_type="review", award_kind=AwardKind.FIXED, points=20,
                       pending_days=7, validity_days=365),
            RuleFields(name="Referral", event_type="referral", award_kind=AwardKind.FIXED, points=100,
                       cap_total=10_000_000),
        ]  # fmt: skip
        for rule in rules:
            await create_rule(tenant_id, rule)
        return key, ext
    finally:
        await Tortoise.close_connections()


def batch(run: int, size: int, ext: list[str], rng: random.Random) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    purchases: list[tuple[str, str]] = []
    for i in range(size):
        member = rng.choice(ext)
        at = (BASE_TIME + timedelta(seconds=run * 10_000 + i)).isoformat()
        roll = rng.random()
        key = f"e-{run}-{i}"
        if roll < 0.70 or (roll < 0.80 and not purchases):
            order = f"o-{run}-{i}"
            purchases.append((member, order))
            props = {"amount": round(rng.uniform(5, 400), 2), "currency": "EUR", "orderId": order}
            events.append({"externalUserId": member, "type": "purchase", "idempotencyKey": key,
                           "occurredAt": at, "properties": props})  # fmt: skip
        elif roll < 0.80:
            member, order = purchases.pop(rng.randrange(len(purchases)))
            events.append({"externalUserId": member, "type": "return", "idempotencyKey": key,
                           "occurredAt": at, "properties": {"orderId": order}})  # fmt: skip
        elif roll < 0.95:
            events.append({"externalUserId": member, "type": "review", "idempotencyKey": key,
                           "occurredAt": at, "properties": {"stars": rng.randint(1, 5)}})  # fmt: skip
        else:
            events.append({"externalUserId": member, "type": "referral", "idempotencyKey": key,
                           "occurredAt": at, "properties": {"friend": f"f-{i}"}})  # fmt: skip
    return events


async def check(db_url: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
    try:
        events = await conn.fetchval("SELECT COUNT(*) FROM member_event")
        awards = await conn.fetchval("SELECT COUNT(*) FROM rule_award")
        wrong = await conn.fetchval(
            "SELECT COUNT(*) FROM (SELECT a.id FROM point_account a LEFT JOIN ledger_entry e "
            "ON e.account_id = a.id GROUP BY a.id, a.balance "
            "HAVING a.balance <> COALESCE(SUM(e.amount), 0) OR a.balance < 0) x"
        )
        return int(events), int(awards), int(wrong)
    finally:
        await conn.close()


def start_server(env: dict[str, str], port: int, workdir: Path) -> subprocess.Popen[bytes]:
    with open(workdir / "uvicorn.log", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "engine.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


async def bench(args: argparse.Namespace, db_url: str, workdir: Path) -> int:
    import httpx

    key, ext = await seed(db_url, args.members)
    log(f"seeded {len(ext)} members, 4 rules")
    port = free_port()
    env = dict(os.environ, DATABASE_URL=db_url, GAMIFY_DATA_DIR=str(workdir / "data"),
               GAMIFY_SECRET_KEY=secrets.token_urlsafe(48), GAMIFY_DB_POOL_SIZE="10",
               PYTHONUNBUFFERED="1")  # fmt: skip
    env.pop("REDIS_URL", None)
    server = start_server(env, port, workdir)
    try:
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        rng = random.Random(15)
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            for _ in range(300):
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            else:
                raise SystemExit((workdir / "uvicorn.log").read_text()[-3000:])
            warm = await http.post("/api/v1/events", json=batch(0, 50, ext, rng), headers=headers)
            assert warm.status_code == 200, warm.text
            times, first = [], None
            busy0, total0 = machine_cpu()
            for run in range(1, args.runs + 1):
                events = batch(run, args.events, ext, rng)
                first = first or events
                started = time.perf_counter()
                answer = await http.post("/api/v1/events", json=events, headers=headers)
                elapsed = time.perf_counter() - started
                body = answer.json()
                assert answer.status_code == 200 and body["accepted"] == len(events), body.get(
                    "results", body
                )[:3]
                times.append(elapsed)
                log(f"batch {run}: {len(events)} events applied in {elapsed * 1000:.0f} ms, "
                    f"{body['points']} points")  # fmt: skip
            busy1, total1 = machine_cpu()
            assert first is not None
            started = time.perf_counter()
            again = await http.post("/api/v1/events", json=first, headers=headers)
            replay = time.perf_counter() - started
            assert again.json()["replayed"] == len(first), again.text[:500]
    finally:
        server.terminate()
        server.wait(10)
    events_n, awards_n, wrong = await check(db_url)
    times.sort()
    p50 = statistics.median(times)
    print()
    print(f"events bench, PostgreSQL, one uvicorn process, {os.cpu_count()} cores, "
          f"machine {100 * (busy1 - busy0) / max(total1 - total0, 1e-9):.0f}% busy")  # fmt: skip
    print(f"  batch of {args.events}: applied p50 {p50 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
          f" -> {args.events / p50:,.0f} events/s (target: < 1000 ms)")  # fmt: skip
    print(f"  the same batch re-sent (all replays): {replay * 1000:.0f} ms")
    print(f"  database: {events_n} events, {awards_n} rule awards, {wrong} accounts off")
    return 1 if wrong else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--members", type=int, default=300)
    args = ap.parse_args()
    os.chdir(ROOT)
    workdir = Path(tempfile.mkdtemp(prefix="bench-events-"))
    os.environ["GAMIFY_DATA_DIR"] = str(workdir / "data")
    dbname = f"gamify_bench_{secrets.token_hex(5)}"
    asyncio.run(pg(args.pg_url, f'CREATE DATABASE "{dbname}"'))
    try:
        return asyncio.run(bench(args, with_database(args.pg_url, dbname), workdir))
    except KeyboardInterrupt:
        return 130
    finally:
        asyncio.run(pg(args.pg_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)
        log(f"dropped {dbname}")


if __name__ == "__main__":
    sys.exit(main())
