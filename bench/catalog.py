#!/usr/bin/env python
"""Widget catalog read: the engine over HTTP against the same response served from memory.

Run by hand from the repository root (not a test):

    . .venv/bin/activate
    python bench/catalog.py                    # engine + floor, 15 s each (~1.5 minutes)
    python bench/catalog.py --rounds 3         # alternating runs, medians (shared machine)
    python bench/catalog.py --profile /tmp/cat # plus a py-spy'd engine run, top-N summary

What it does, in one run:
  1. creates a database gamify_bench_<random> on --pg-url, migrates it, and seeds through the
     domain functions one tenant with two tiers, --members members (tiers mixed) with points
     (some pending) and a member token each, and 20 rewards with mixed gates: plain ones,
     tier-gated, per-member limit and cooldown (each member redeemed those once), an
     availability window (one not open yet, one open), stock (two out of stock), some
     costing more than a member has;
  2. starts the engine (`uvicorn --factory engine.app:app_from_env`, ONE process) and the
     floor (bench/catalog_floor.py: a bare Starlette + Strawberry app with parser and
     validation caches, ONE process, answering the same query from memory with the engine's
     own response), and checks that both answer the same JSON;
  3. per round: the engine, then the floor: wait for a quiet machine, 3 s wrk warm-up,
     15 s of `wrk -t 2 -c 32` POSTing
       { me { accounts { balance pending } } catalog(first: 20) { nodes { reward
         { id name pointCost stock imageUrl } canRedeem reason } } }
     with the member tokens in turn; every response is checked (a catalog, no errors);
  4. prints req/s, p50/p99 of both, the ratio engine / floor (target >= 0.6), the server
     process' CPU ms per request (/proc) and PostgreSQL's; with --profile, one more engine
     run under py-spy (figures above are taken without it) and its top functions;
  5. stops both servers and drops the database, also on Ctrl-C, SIGTERM or a failure.

Needs `wrk`. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
import asyncpg  # noqa: E402
from measure import (  # noqa: E402
    PgCpu,
    UvicornServer,
    collect_py_spy,
    load_average,
    log,
    machine_cpu,
    median,
    path_breakdown,
    proc_cpu,
    profile_tables,
    request_statements,
    run_child,
    signature,
    start_py_spy,
    wait_for_quiet,
    with_database,
)

QUERY = (
    "{ me { accounts { balance pending } } catalog(first: 20) { nodes { reward "
    "{ id name pointCost stock imageUrl } canRedeem reason } } }"
)
TOKEN_TTL = 6 * 3600
IMAGE = "https://cdn.example.test/rewards/{n}.png"


@dataclass
class Seeded:
    url: str
    dbname: str
    tokens: list[str]
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> count, first member


# ---------------------------------------------------------------------------- setup


async def seed(args: argparse.Namespace, url: str, dbname: str) -> Seeded:
    """Tenant, tiers, members with points and tokens, 20 rewards with mixed gates."""
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate

    from core import clock
    from core.security import issue_token
    from core.settings import tortoise_config
    from models.catalog.rewards import RewardFields, create_reward
    from models.catalog.tables import RewardType
    from models.members.upserts import save_tier, upsert_member
    from models.points.awards import AwardRequest, award_points
    from models.points.tables import LedgerSource
    from models.redemptions.redeem import RedeemRequest, redeem_with_effects
    from models.tenancy.access import create_tenant

    config = tortoise_config(url, 5)
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        slug = f"bench-{secrets.token_hex(3)}"
        new = await create_tenant("Bench", slug, f"admin@{slug}.test", "bench-password-1")
        tenant_id = new.tenant.id
        silver = await save_tier(tenant_id, None, "Silver", 1)
        gold = await save_tier(tenant_id, None, "Gold", 2)
        now = clock.now()

        def reward(n: int, cost: int, **gates: Any) -> RewardFields:
            return RewardFields(
                name=f"Reward {n:02d}",
                description=f"Description of reward {n}",
                type=RewardType.VOUCHER,
                value=f"V{n}",
                point_cost=cost,
                image_url=IMAGE.format(n=n),
                **gates,
            )

        specs = [
            # plain: some affordable, some not (members hold 2,000-5,000 active points)
            *(reward(n, cost) for n, cost in enumerate((100, 250, 500, 900, 1500), 1)),
            reward(6, 8_000),
            reward(7, 20_000),
            reward(8, 300, stock=1_000),
            # tiers
            reward(9, 200, min_tier_id=silver.id),
            reward(10, 400, min_tier_id=gold.id),
            reward(11, 30_000, min_tier_id=gold.id),
            # limit and cooldown: every member redeems these once below
            reward(12, 50, per_member_limit=1),
            reward(13, 60, per_member_limit=5),
            reward(14, 70, cooldown_seconds=86_400),
            reward(15, 80, cooldown_seconds=1, per_member_limit=100),
            # availability window
            reward(16, 150, available_from=now + timedelta(days=7)),
            reward(
                17,
                150,
                available_from=now - timedelta(days=1),
                available_until=now + timedelta(days=30),
            ),
            # stock
            reward(18, 100, stock=0),
            reward(19, 100, stock=0, min_tier_id=silver.id),
            reward(20, 100, stock=5),
        ]
        rewards = [await create_reward(tenant_id, spec) for spec in specs]
        used = [r for r in rewards if r.per_member_limit or r.cooldown_seconds]

        tokens = []
        for i in range(args.members):
            tier = (None, silver.id, gold.id)[i % 3]
            member, _ = await upsert_member(
                tenant_id, f"bench-{i}", email=f"m{i}@bench.test", name=f"Member {i}",
                tier_id=tier,
            )  # fmt: skip
            for amount, valid_from in ((2_000 + 1_000 * (i % 4), None),
                                       (700, now + timedelta(days=3))):  # fmt: skip
                await award_points(
                    AwardRequest(
                        tenant_id=tenant_id, member_id=member.id, definition_id=None,
                        amount=amount, source=LedgerSource.PURCHASE, valid_from=valid_from,
                    )
                )  # fmt: skip
            for r in used:
                await redeem_with_effects(RedeemRequest(tenant_id, member.id, r.id))
            secret = os.environ["GAMIFY_SECRET_KEY"]
            tokens.append(issue_token(secret, "member", str(member.id), str(tenant_id), TOKEN_TTL))
    finally:
        await Tortoise.close_connections()
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return Seeded(url, dbname, tokens)


def post(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


# Inclusive time of request-path functions: (label, function name, file fragment).
# Strawberry runs async resolvers as tasks, so their stacks do not start in the HTTP view:
# the resolver lines are not parts of the first one. Shares are of all active samples.
PROFILE_BREAKDOWN: list[tuple[str | None, str, str]] = [
    ("HTTP request (middleware, view), outside resolver tasks", "RequestIdMiddleware.__call__", "engine/request_id.py"),
    ("  get_context: token check (authenticate)", "get_context", "engine/graphql.py"),
    ("  response JSON encoding", "encode_json", "strawberry/http/base.py"),
    ("GraphQL execution (graphql-core frames, resolvers below included)", "", "graphql/execution/"),
    ("resolver me (member SELECT)", "me", "resolvers/members.py"),
    ("Member.accounts (accounts, definitions, account_view)", "accounts", "schema/members.py"),
    ("PointAccount.pending: definition_mode (tenant SELECT, own task)", "definition_mode", "models/pointmaster/modes.py"),
    ("resolver catalog", "catalog", "resolvers/rewards.py"),
    ("  target_member (member SELECT)", "target_member", "resolvers/auth.py"),
    ("  paginate (reward SELECT -> Reward objects)", "paginate", "models/db/pagination.py"),
    ("  account_view (point_grant SELECT when points are due soon)", "account_view", "models/points/grants.py"),
    ("  eligibility", "eligibility", "models/catalog/eligibility.py"),
    ("  Reward.from_model", "from_model", "schema/rewards.py"),
    (None, "", ""),  # the lines below cut across the ones above
    ("asyncpg pool release (runs the reset query)", "release", "asyncpg/pool.py"),
    ("Tortoise: SQL text building (pypika)", "get_sql", "pypika"),
    ("Tortoise: rows -> model objects", "_init_from_db", "tortoise/models.py"),
]  # fmt: skip


# ---------------------------------------------------------------------------- runs


@dataclass
class Result:
    target: str
    rps: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    requests: int = 0
    errors: int = 0
    sample: str = ""
    server_ms: float = 0.0  # server process CPU per request
    pg_ms: float = 0.0  # PostgreSQL backends' CPU per request
    xacts: float = 0.0  # transactions PostgreSQL counted per request
    other_pct: float = 0.0
    load: str = ""


def run_wrk(
    args: argparse.Namespace,
    server: UvicornServer,
    target: str,
    workdir: Path,
    dbname: str,
    profile_dir: Path | None = None,
) -> Result:
    env = dict(os.environ)
    env.update(
        CATALOG_BODY=str(workdir / "body.json"),
        CATALOG_TOKENS=str(workdir / "tokens.txt"),
        CATALOG_THREADS=str(args.threads),
    )

    def wrk(duration: float) -> tuple[dict[str, Any], float]:
        cmd = [
            "wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{duration:g}s",
            "--timeout", "30s", "-s", str(BENCH / "catalog.lua"), server.url,
        ]  # fmt: skip
        code, out, rusage = run_child(cmd, env, workdir / "wrk.out")
        match = re.search(r"^WRK_JSON (.*)$", out, re.M)
        if code != 0 or not match:
            raise SystemExit(f"wrk failed ({code}):\n{out}")
        return json.loads(match.group(1)), rusage.ru_utime + rusage.ru_stime

    label = target + (" (py-spy)" if profile_dir else "")
    wait_for_quiet(args.quiet_wait)
    load = load_average()
    log(f"{label}: warm-up {args.warmup:g}s (load {load})")
    wrk(args.warmup)
    time.sleep(1.5)  # the server's statistics are flushed about once a second
    xacts0 = asyncio.run(_xacts(args.pg_url, dbname))
    pids = server.worker_pids()
    cpu0 = sum(proc_cpu(p) for p in pids)
    pg = PgCpu(dbname)
    pg.begin()
    busy0, total0 = machine_cpu()
    running = start_py_spy(pids, args.duration, profile_dir, "engine") if profile_dir else []
    log(f"{label}: measuring {args.duration:g}s")
    stats, wrk_cpu = wrk(args.duration)
    busy1, total1 = machine_cpu()
    server_cpu = sum(proc_cpu(p) for p in pids) - cpu0
    pg_cpu = pg.end()
    time.sleep(1.5)
    xacts = asyncio.run(_xacts(args.pg_url, dbname)) - xacts0 - 1  # 1: our own query
    per = max(stats["requests"], 1)
    errors = (
        stats["gql_errors"] + stats["bad_status"] + stats["connect_errors"]
        + stats["read_errors"] + stats["write_errors"] + stats["timeouts"]
    )  # fmt: skip
    result = Result(
        target=target,
        rps=stats["ok"] / (stats["duration_us"] / 1e6),  # answered with a catalog
        p50_ms=stats["p50"] / 1000,
        p99_ms=stats["p99"] / 1000,
        requests=stats["requests"],
        errors=errors,
        sample=stats["sample"],
        server_ms=server_cpu * 1000 / per,
        pg_ms=pg_cpu * 1000 / per,
        xacts=xacts / per,
        other_pct=100
        * max(0.0, (busy1 - busy0) - server_cpu - pg_cpu - wrk_cpu)
        / max(total1 - total0, 1e-9),
        load=load,
    )
    if profile_dir is not None:
        stacks = collect_py_spy(running, args.duration + 30)
        if not stacks:
            log("py-spy recorded nothing")
        else:
            lines = [
                f"{sum(stacks.values())} samples (active time only); engine CPU "
                f"{result.server_ms:.2f} ms per request under py-spy, {result.rps:.0f} req/s",
                "",
                "request path, inclusive (% of samples, ~ms of server CPU per request):",
                *path_breakdown(stacks, PROFILE_BREAKDOWN, result.server_ms),
                "",
                *profile_tables(stacks, top=args.top, ms_per_unit=result.server_ms),
            ]
            summary = "\n".join(lines) + "\n"
            (profile_dir / "catalog-summary.txt").write_text(summary)
            print(f"\n--- py-spy, engine process ({profile_dir}/catalog-summary.txt) ---")
            print(summary)
    return result


# ---------------------------------------------------------------------------- report


def report(args: argparse.Namespace, runs: dict[str, list[Result]], seeded: Seeded) -> None:
    rounds = f"median of {args.rounds} rounds, " if args.rounds > 1 else ""
    print()
    print(
        f"Catalog read ({rounds}wrk -t{args.threads} -c{args.connections}, "
        f"{args.duration:g} s per run after {args.warmup:g} s warm-up, {args.members} member "
        f"tokens, 20 rewards; reasons for member 0: "
        + ", ".join(f"{k} {v}" for k, v in sorted(seeded.reasons.items()))
        + ")"
    )
    print(
        f"NOTE: {os.cpu_count()} CPU cores shared by wrk, the server (1 process) and "
        "PostgreSQL: only the ratio in one run means much."
    )
    print()
    head = (
        f"{'server':<8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} | "
        f"{'server CPU ms/req':>17} {'pg CPU ms/req':>13} {'db xacts':>8} | {'others':>6}"
    )
    print(head)
    print("-" * len(head))
    for target, results in runs.items():
        xacts = f"{median([r.xacts for r in results]):8.1f}" if target == "engine" else " " * 8
        print(
            f"{target:<8} {median([r.rps for r in results]):7.0f} "
            f"{median([r.p50_ms for r in results]):7.1f} "
            f"{median([r.p99_ms for r in results]):7.1f} {sum(r.errors for r in results):6d} | "
            f"{median([r.server_ms for r in results]):17.2f} "
            f"{median([r.pg_ms for r in results]):13.2f} "
            f"{xacts} | "
            f"{max(r.other_pct for r in results):5.0f}%"
        )
    print("-" * len(head))
    engine = median([r.rps for r in runs["engine"]])
    floor = median([r.rps for r in runs["floor"]])
    print(f"ratio engine / floor: {engine / floor:.2f}   (target >= 0.6)")
    if len(runs["engine"]) > 1:
        pairs = ", ".join(
            f"{e.rps / f.rps:.2f}" for e, f in zip(runs["engine"], runs["floor"], strict=True)
        )
        print(f"  per round: {pairs}")
    print()
    for target, results in runs.items():
        for i, r in enumerate(results):
            print(
                f"  {target} #{i + 1}: {r.requests} responses, {r.rps:.0f}/s, p50 {r.p50_ms:.1f} "
                f"p99 {r.p99_ms:.1f} ms, server CPU {r.server_ms:.2f} ms/req, "
                f"others {r.other_pct:.0f}%, load {r.load}"
            )
            if r.sample:
                print(f"    first error: {r.sample}")
    worst = max(r.other_pct for results in runs.values() for r in results)
    if worst > 10:
        print(
            f"WARNING: other processes took up to {worst:.0f}% of the machine during a run: "
            "the figures are disturbed; re-run on a quiet machine (or use --rounds)."
        )


# ---------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to create the benchmark database in (may CREATE DATABASE)",
    )
    ap.add_argument("--members", type=int, default=50, help="members, one token each")
    ap.add_argument(
        "--redis-url",
        default=None,
        help="give the engine a Redis (caches on, rate limits counted), e.g. redis://127.0.0.1:6379/9",
    )
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pool-size", type=int, default=20, help="GAMIFY_DB_POOL_SIZE")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per run")
    ap.add_argument("--rounds", type=int, default=1, help="engine + floor runs; medians")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for the machine to be idle",
    )
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="after the measured runs, one more engine run under py-spy; summary in DIR",
    )
    ap.add_argument("--top", type=int, default=15, help="functions listed in the summary")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database (debugging)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the SQL of one request")
    return ap.parse_args()


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get update && apt-get install -y wrk")
    signal.signal(signal.SIGTERM, _terminate)
    os.chdir(ROOT)

    workdir = Path(tempfile.mkdtemp(prefix="gamify-bench-"))
    os.environ["GAMIFY_DATA_DIR"] = str(workdir / "data")
    os.environ["GAMIFY_SECRET_KEY"] = secrets.token_urlsafe(48)
    dbname = f"gamify_bench_{secrets.token_hex(5)}"
    url = with_database(args.pg_url, dbname)
    servers: list[UvicornServer] = []
    created = False
    try:
        asyncio.run(_admin(args.pg_url, f'CREATE DATABASE "{dbname}"'))
        created = True
        log(f"database {dbname}: migrating, seeding {args.members} members and 20 rewards")
        seeded = asyncio.run(seed(args, url, dbname))
        statements = asyncio.run(
            request_statements(
                url,
                {"query": QUERY},
                {"Authorization": f"Bearer {seeded.tokens[0]}"},
                '"catalog":{"nodes":[',
                "catalog read",
            )
        )
        log(f"one catalog read = {len(statements)} SQL statements (in-process, Tortoise's log):")
        log("  " + ", ".join(signature(st) for st in statements))
        if args.verbose:
            for st in statements:
                print(f"    {st[:300]}")

        engine_env = dict(os.environ)
        engine_env.update(
            DATABASE_URL=url,
            GAMIFY_DB_POOL_SIZE=str(args.pool_size),
            GAMIFY_GRAPHIQL="0",
            # With a Redis, as in production: the per-tenant caches follow its broadcast
            # (core.cache), and the rate limits count there.
            REDIS_URL=args.redis_url or "",
            # With a Redis the rate limits count there, as in production, but all of wrk's
            # requests come from one address and 50 members: above what a run sends.
            GAMIFY_RATE_LIMIT_PER_CREDENTIAL="100000000",
            GAMIFY_RATE_LIMIT_PER_ADDRESS="100000000",
            PYTHONUNBUFFERED="1",
        )
        engine = UvicornServer("engine.app:app_from_env", engine_env, workdir, name="engine")
        servers.append(engine)
        engine.start()
        expected = post(engine.url, seeded.tokens[0])
        if "errors" in expected or not expected.get("data", {}).get("catalog"):
            raise SystemExit(f"the engine's catalog read failed: {json.dumps(expected)[:2000]}")
        nodes = expected["data"]["catalog"]["nodes"]
        if len(nodes) != 20:
            raise SystemExit(f"expected 20 catalog items, got {len(nodes)}")
        for node in nodes:
            reason = node["reason"] or "can redeem"
            seeded.reasons[reason] = seeded.reasons.get(reason, 0) + 1
        for token in seeded.tokens[1:]:  # every token works
            if "errors" in post(engine.url, token):
                raise SystemExit("the engine refused a member token")

        data = workdir / "floor.json"
        data.write_text(json.dumps(expected))
        floor_env = dict(os.environ)
        floor_env.update(CATALOG_FLOOR_DATA=str(data), PYTHONPATH=str(BENCH), PYTHONUNBUFFERED="1")
        floor = UvicornServer("catalog_floor:app", floor_env, workdir, name="floor")
        servers.append(floor)
        floor.start()
        if post(floor.url, seeded.tokens[0]) != expected:
            raise SystemExit("the floor's response differs from the engine's")
        log(
            f"engine (pid {engine.worker_pids()[0]}) and floor (pid {floor.worker_pids()[0]}) "
            f"answer the same JSON ({len(json.dumps(expected))} bytes)"
        )

        (workdir / "body.json").write_text(json.dumps({"query": QUERY}))
        (workdir / "tokens.txt").write_text("\n".join(seeded.tokens) + "\n")
        runs: dict[str, list[Result]] = {"engine": [], "floor": []}
        for n in range(args.rounds):
            if args.rounds > 1:
                log(f"round {n + 1}/{args.rounds}")
            runs["engine"].append(run_wrk(args, engine, "engine", workdir, dbname))
            runs["floor"].append(run_wrk(args, floor, "floor", workdir, dbname))
        report(args, runs, seeded)
        if args.profile:
            print()
            run_wrk(args, engine, "engine", workdir, dbname, profile_dir=Path(args.profile))
    finally:
        for server in servers:
            server.stop()
        if created and not args.keep_db:
            asyncio.run(_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            log(f"dropped {dbname}")
        elif created:
            log(f"kept database {dbname}")
        shutil.rmtree(workdir, ignore_errors=True)


async def _xacts(server_url: str, dbname: str) -> int:
    """Transactions PostgreSQL counted for the database (a statement outside BEGIN is one)."""
    conn = await asyncpg.connect(server_url.replace("postgres://", "postgresql://", 1))
    try:
        return int(
            await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
                dbname,
            )
        )
    finally:
        await conn.close()


async def _admin(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(server_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
