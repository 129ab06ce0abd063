#!/usr/bin/env python
"""Webhook delivery: deliveries/s of ONE arq worker, and commit-to-receipt delay.

Run by hand from the repository root (not a test):

    . .venv/bin/activate
    python bench/webhooks.py                          # 5,000 backlog; 100/s and 200/s, 10 s
    python bench/webhooks.py --rates 50,100,300       # other steady rates
    python bench/webhooks.py --profile /tmp/wh-prof   # also py-spy the worker while it drains
    python bench/webhooks.py --arq poll_delay=0.002   # what-if: other arq WorkerSettings values
    python bench/webhooks.py --stock-claim            # what-if: arq's 4-round-trip job claim

Needs PostgreSQL (--pg-url, a superuser; trust auth) and Redis (--redis-url: a DEDICATED db
index, flushed at start and end). Before each measurement it waits (--quiet-wait) for the
machine to be idle: other people's tests and benchmarks on the same cores skew every figure.

What it does:
  1. creates a database gamify_bench_<random> on --pg-url, migrates it, creates a tenant,
     one reward (no stock limit) and --members members with points; FLUSHDBs --redis-url
     (a dedicated db index, not 0);
  2. starts bench/webhook_receiver.py (asyncio + httptools, answers 204, records the
     webhook-id and time.time() of every POST) and registers it as the tenant's
     `reward_redeemed` endpoint (GAMIFY payloads);
  3. backlog: with no worker running, commits --deliveries redemptions through
     models.redemptions.redeem.redeem_with_effects (each writes one outbox row) and enqueues their jobs
     with the redemption's after-commit effect, as the API does; then starts
     ONE `gamify worker` process and times the receipts: deliveries/s;
  4. steady: for each --rates R, commits R redemptions/s for --seconds with the worker
     running (enqueueing each right after its commit) and measures, per delivery,
     receipt time minus commit time (same machine clock): p50/p90/p99;
  5. checks that the receiver got exactly the expected webhook-ids (duplicates counted)
     and that every outbox row is DELIVERED with one attempt; checks one signature;
  6. stops the worker and the receiver, FLUSHDBs Redis and drops the database, also on an
     error, Ctrl-C or SIGTERM.

Reading the figures: "deliveries/s" is one worker draining a backlog on a shared machine;
"worker CPU ms per delivery" (from /proc) is the steadier number: 1000 / it is what the
worker would do with a core to itself. "others" is CPU used by processes outside the bench.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
import asyncpg  # noqa: E402
from measure import log, machine_cpu, percentile, proc_cpu, with_database  # noqa: E402

POINT_COST = 10
MEMBER_POINTS = 10**9  # award_points' maximum; 10^8 redemptions per member


async def pg(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """One statement on its own connection; waits up to 2 min for a free connection slot
    (the server's max_connections is shared with whatever else runs on this machine)."""
    for attempt in range(240):
        try:
            conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
            break
        except asyncpg.TooManyConnectionsError:
            if attempt == 0:
                log("PostgreSQL has no free connection slot (max_connections): waiting")
            if attempt == 239:
                raise
            await asyncio.sleep(0.5)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def db_xacts(server_url: str, dbname: str) -> int:
    """Transactions PostgreSQL counted for the database (a statement outside BEGIN is one)."""
    rows = await pg(
        server_url,
        "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1",
        dbname,
    )
    return int(rows[0]["n"])


# ---------------------------------------------------------------------------- CPU accounting


def pids_matching(*needles: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found.append(int(entry.name))
    return found


async def wait_for_quiet(max_wait: float, threshold: float = 20.0) -> float:
    """Wait (up to max_wait s) until the machine is mostly idle; returns its busy %."""
    deadline = time.monotonic() + max_wait
    waited = False
    while True:
        busy0, total0 = machine_cpu()
        await asyncio.sleep(1.0)
        busy1, total1 = machine_cpu()
        busy = 100 * (busy1 - busy0) / max(total1 - total0, 1e-9)
        if busy < threshold or time.monotonic() >= deadline:
            if busy >= threshold:
                log(f"  machine still {busy:.0f}% busy (other processes): measuring anyway")
            elif waited:
                log(f"  machine {busy:.0f}% busy: go")
            return busy
        if not waited:
            log(f"  machine {busy:.0f}% busy (other processes): waiting up to {max_wait:g} s")
            waited = True


class CpuMeter:
    """CPU seconds used by each part between `start()` and `stop()`.

    PostgreSQL: the backends of our database (by process title) plus the WAL writer,
    re-sampled while running so backends that come and go are counted. A hint, not an
    accounting: other people's processes on the machine show up in `others`.
    """

    def __init__(self, dbname: str, parts: dict[str, int]) -> None:
        self.dbname = dbname.encode()
        self.parts = parts  # name -> pid
        self.redis = pids_matching(b"redis-server")
        self.base: dict[str, float] = {}
        self.pg_base: dict[int, float] = {}
        self.pg_last: dict[int, float] = {}
        self.machine0 = (0.0, 0.0)
        self.task: asyncio.Task[None] | None = None

    def _pg_pids(self) -> list[int]:
        return [
            p
            for p in pids_matching(b"postgres:")
            if self._title(p).find(b" " + self.dbname + b" ") >= 0 or b"walwriter" in self._title(p)
        ]

    @staticmethod
    def _title(pid: int) -> bytes:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""

    def _sample_pg(self) -> None:
        for pid in self._pg_pids():
            self.pg_base.setdefault(pid, 0.0)
            cpu = proc_cpu(pid)
            if cpu:
                self.pg_last[pid] = cpu

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            self._sample_pg()

    def start(self) -> None:
        self.base = {name: proc_cpu(pid) for name, pid in self.parts.items()}
        self.base["redis"] = sum(proc_cpu(p) for p in self.redis)
        self.pg_base = {pid: proc_cpu(pid) for pid in self._pg_pids()}
        self.pg_last = dict(self.pg_base)
        self.machine0 = machine_cpu()
        self.task = asyncio.create_task(self._loop())

    def stop(self) -> tuple[dict[str, float], float, float]:
        """(CPU seconds per part, machine busy seconds, wall seconds of all cores)."""
        assert self.task is not None
        self.task.cancel()
        self._sample_pg()
        used = {name: proc_cpu(pid) - self.base[name] for name, pid in self.parts.items()}
        used["redis"] = sum(proc_cpu(p) for p in self.redis) - self.base["redis"]
        used["postgres"] = sum(
            max(0.0, self.pg_last.get(p, b) - b) for p, b in self.pg_base.items()
        )
        busy1, total1 = machine_cpu()
        busy = busy1 - self.machine0[0]
        used["others"] = max(0.0, busy - sum(used.values()))
        return used, busy, total1 - self.machine0[1]


# ---------------------------------------------------------------------------- processes


CHILDREN: list[subprocess.Popen[bytes]] = []  # every process started here


class Receiver:
    def __init__(self, workdir: Path) -> None:
        self.log_path = workdir / "receiver.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        with open(self.log_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(BENCH / "webhook_receiver.py"), "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        CHILDREN.append(self.proc)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            raise SystemExit(f"receiver did not start: {self.log_path.read_text()[-2000:]}")
        self.port = int(line.split()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as r:
            return bytes(r.read())

    def stats(self) -> dict[str, int]:
        return dict(json.loads(self._get("/stats")))

    def records(self) -> list[tuple[str, float]]:
        out = []
        for line in self._get("/records").decode().splitlines():
            webhook_id, at = line.split()
            out.append((webhook_id, float(at)))
        return out

    def sample(self) -> dict[str, Any]:
        return dict(json.loads(self._get("/sample")))

    def stop(self) -> None:
        stop_process(self.proc)


WORKER_WITH_SETTINGS = """
import json, sys
from workers.settings import WorkerSettings
for name, value in json.loads(sys.argv[1]).items():
    if name == "stock_claim":
        import workers.claiming
        workers.claiming.claims_in_one_trip = lambda: False
    else:
        setattr(WorkerSettings, name, value)
from engine.cli import main
sys.exit(main(["worker"]))
"""


class Worker:
    """One `gamify worker` process (python -m engine.cli worker) in its own session."""

    def __init__(self, args: argparse.Namespace, db_url: str, workdir: Path) -> None:
        self.log_path = workdir / "worker.log"
        self.env = dict(os.environ)
        self.env.update(
            DATABASE_URL=db_url,
            REDIS_URL=args.redis_url,
            GAMIFY_WEBHOOK_ALLOW_PRIVATE="1",
            GAMIFY_DATA_DIR=str(workdir / "data"),
            GAMIFY_SECRET_KEY=secrets.token_urlsafe(48),
            PYTHONUNBUFFERED="1",
        )
        if args.pool_size:
            self.env["GAMIFY_DB_POOL_SIZE"] = str(args.pool_size)
        self.arq: dict[str, Any] = args.arq
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        command = [sys.executable, "-m", "engine.cli", "worker"]
        if self.arq:
            # What-if: other arq settings than workers/settings.py's, for this worker only.
            command = [sys.executable, "-c", WORKER_WITH_SETTINGS, json.dumps(self.arq)]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        CHILDREN.append(self.proc)
        return self.proc.pid

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise SystemExit(f"the worker exited:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.proc, grace=25)


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 10) -> None:
    """SIGTERM the process (it leads its own session), then SIGKILL its group if need be."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


class Profiler:
    """py-spy record of the worker: collapsed stacks (load them in speedscope.app or
    flamegraph.pl), summarised at the end of the report."""

    def __init__(self, outdir: Path, pid: int, name: str, py_spy: str) -> None:
        self.py_spy = py_spy
        outdir.mkdir(parents=True, exist_ok=True)
        self.raw = outdir / f"{name}.txt"
        self.log_path = outdir / f"{name}.log"
        self.pid = pid
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [self.py_spy, "record", "--pid", str(self.pid), "--rate", "200", "--nonblocking",
               "--format", "raw", "--output", str(self.raw)]  # fmt: skip
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        CHILDREN.append(self.proc)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------- engine side


@dataclass
class Setup:
    tenant_id: uuid.UUID
    reward_id: uuid.UUID
    member_ids: list[uuid.UUID]
    secret: str = ""


@dataclass
class Sent:
    """Per delivery id: commit time and enqueued time (time.time())."""

    committed: dict[str, float] = field(default_factory=dict)
    enqueued: dict[str, float] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)


async def seed(members: int) -> Setup:
    from models.catalog.rewards import RewardFields, create_reward
    from models.catalog.tables import RewardType
    from models.members.upserts import upsert_member
    from models.points.awards import AwardRequest, award_points
    from models.points.tables import LedgerSource
    from models.tenancy.access import create_tenant

    slug = f"bench-{secrets.token_hex(3)}"
    new = await create_tenant("Bench", slug, f"admin@{slug}.test", "bench-password-1")
    tenant_id = new.tenant.id
    reward = await create_reward(
        tenant_id,
        RewardFields(name="Bench voucher", type=RewardType.VOUCHER, point_cost=POINT_COST),
    )
    member_ids = []
    for n in range(members):
        member, _ = await upsert_member(
            tenant_id, f"bench-{n}", email=f"m{n}@bench.test", name=f"Member {n}"
        )
        await award_points(
            AwardRequest(
                tenant_id=tenant_id,
                member_id=member.id,
                definition_id=None,
                amount=MEMBER_POINTS,
                source=LedgerSource.PURCHASE,
                description="bench points",
            )
        )
        member_ids.append(member.id)
    return Setup(tenant_id, reward.id, member_ids)


async def redeem_one(setup: Setup, n: int, queue: Any, sent: Sent) -> None:
    """What the API does: commit the redemption (with its outbox row), then run its
    after-commit effects (the delivery job)."""
    from core.after_commit import unit_of_work
    from models.redemptions.redeem import RedeemRequest, redeem_with_effects
    from models.webhooks.outbox import Deliver

    member_id = setup.member_ids[n % len(setup.member_ids)]
    request = RedeemRequest(
        tenant_id=setup.tenant_id, member_id=member_id, reward_id=setup.reward_id
    )
    async with unit_of_work(queue, None) as unit:
        for attempt in range(20):
            try:
                await redeem_with_effects(request)
                break
            except Exception as exc:  # counted and reported; the run goes on
                if "too many clients" in str(exc) and attempt < 19:
                    # PostgreSQL's max_connections, shared with whatever else runs here
                    sent.failures["retried: too many clients"] += 1
                    await asyncio.sleep(0.5)
                    continue
                sent.failures[f"{type(exc).__name__}: {exc}"[:120]] += 1
                return
        committed = time.time()
        ids = [i for e in unit.effects if isinstance(e, Deliver) for i, _ in e.attempts]
    enqueued = time.time()
    for delivery_id in ids:
        sent.committed[str(delivery_id)] = committed
        sent.enqueued[str(delivery_id)] = enqueued


async def redeem_backlog(setup: Setup, count: int, concurrency: int, queue: Any) -> Sent:
    sent = Sent()
    counter = iter(range(count))

    async def lane() -> None:
        for n in counter:
            await redeem_one(setup, n, queue, sent)

    async with asyncio.TaskGroup() as group:  # a failure cancels the other lanes
        for _ in range(concurrency):
            group.create_task(lane())
    return sent


async def redeem_paced(
    setup: Setup, rate: float, seconds: float, max_inflight: int, queue: Any, offset: int
) -> tuple[Sent, float]:
    """`rate` redemptions/s for `seconds`; returns (sent, seconds it actually took)."""
    sent = Sent()
    count = round(rate * seconds)
    gate = asyncio.Semaphore(max_inflight)
    start = time.monotonic()

    async def one(n: int) -> None:
        try:
            await redeem_one(setup, offset + n, queue, sent)
        finally:
            gate.release()

    async with asyncio.TaskGroup() as group:  # a failure cancels the others
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()  # falls behind the schedule rather than pile up
            group.create_task(one(n))
    return sent, time.monotonic() - start


async def wait_received(
    receiver: Receiver, worker: Worker, expected: int, limit_s: float, on_first: Any = None
) -> bool:
    """Poll the receiver until it saw `expected` distinct ids in total (or time out)."""
    deadline = time.monotonic() + limit_s
    first_seen = False
    while time.monotonic() < deadline:
        worker.check()
        stats = await asyncio.to_thread(receiver.stats)
        if not first_seen and stats["requests"] > 0:
            first_seen = True
            if on_first is not None:
                on_first()
        if stats["distinct"] >= expected:
            return True
        await asyncio.sleep(0.05)
    return False


# ---------------------------------------------------------------------------- phases


@dataclass
class Backlog:
    count: int
    enqueue_s: float
    spawn_to_last_s: float
    first_to_last_s: float
    middle_rate: float  # 5th..95th percentile of receipts
    cpu: dict[str, float]
    busy_pct: float
    complete: bool
    xacts: float = float("nan")  # PostgreSQL transactions per delivery


@dataclass
class Steady:
    rate: float
    achieved: float
    count: int
    delays_ms: list[float]
    enqueue_ms: list[float]
    cpu: dict[str, float]
    busy_pct: float
    complete: bool
    failures: Counter[str]


def receipts(records: list[tuple[str, float]], ids: set[str]) -> dict[str, float]:
    """First receipt time of each of `ids`."""
    first: dict[str, float] = {}
    for webhook_id, at in records:
        if webhook_id in ids and webhook_id not in first:
            first[webhook_id] = at
    return first


async def run(args: argparse.Namespace, db_url: str, dbname: str, workdir: Path) -> int:
    from arq import create_pool
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate
    from tortoise.transactions import in_transaction

    from core.queue import ArqQueue
    from core.settings import tortoise_config
    from core.signing import verify_gamify, verify_standard
    from models.webhooks.endpoints import create_endpoint
    from models.webhooks.tables import PayloadFormat
    from workers.settings import redis_settings_from_url

    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    config = tortoise_config(db_url, args.bench_pool)
    # Open the whole pool now: PostgreSQL's max_connections may be short later.
    connections = dict(config["connections"])  # type: ignore[call-overload]
    default = connections["default"]
    if isinstance(default, str):
        connections["default"] = default.replace("minsize=1&", f"minsize={args.bench_pool}&")
    else:
        default = dict(default, credentials=dict(default["credentials"]))
        default["credentials"]["minsize"] = args.bench_pool
        connections["default"] = default
    config["connections"] = connections
    for attempt in range(120):  # max_connections is shared with the rest of the machine
        try:
            await migrate(config=config)
            await Tortoise.close_connections()
            await Tortoise.init(config=config, _enable_global_fallback=True)
            break
        except Exception as exc:
            if "too many clients" not in str(exc) or attempt == 119:
                raise
            await Tortoise.close_connections()
            await asyncio.sleep(1.0)

    receiver = Receiver(workdir)
    worker = Worker(args, db_url, workdir)
    redis = await create_pool(redis_settings_from_url(args.redis_url))
    profiler: Profiler | None = None
    try:
        await redis.flushdb()
        log(f"seeding: 1 tenant, 1 reward, {args.members} members")
        setup = await seed(args.members)
        receiver.start()
        endpoint = await create_endpoint(
            setup.tenant_id,
            receiver.url,
            ["reward_redeemed"],
            PayloadFormat.GAMIFY,
            allow_private=True,
        )
        setup.secret = endpoint.secret
        log(f"receiver on {receiver.url} (pid {receiver.proc.pid if receiver.proc else '?'})")
        queue = ArqQueue(redis)

        # ---- backlog: jobs queued with no worker running, then one worker drains them
        log(f"backlog: committing {args.deliveries} redemptions + enqueueing (no worker)")
        t0 = time.monotonic()
        backlog_sent = await redeem_backlog(setup, args.deliveries, args.concurrency, queue)
        enqueue_s = time.monotonic() - t0
        queued = await redis.zcard("arq:queue")
        log(
            f"  {len(backlog_sent.committed)} committed in {enqueue_s:.1f} s "
            f"({len(backlog_sent.committed) / enqueue_s:.0f}/s); {queued} jobs queued"
        )
        if backlog_sent.failures:
            log(f"  redeem failures: {dict(backlog_sent.failures)}")
        expected_total = len(backlog_sent.committed)

        await wait_for_quiet(args.quiet_wait)
        xacts0 = await db_xacts(args.pg_url, dbname)
        spawned = time.time()
        worker_pid = worker.start()
        log(f"worker started (pid {worker_pid}); waiting for {expected_total} receipts")
        meter = CpuMeter(
            dbname,
            {"worker": worker_pid, "receiver": receiver.proc.pid if receiver.proc else 0,
             "bench": os.getpid()},
        )  # fmt: skip
        if args.profile:
            profiler = Profiler(Path(args.profile), worker_pid, "worker-backlog", args.py_spy)

        def first_receipt() -> None:  # measure from the first delivery: skip imports
            meter.start()
            if profiler is not None:
                profiler.start()

        complete = await wait_received(
            receiver, worker, expected_total, args.timeout, on_first=first_receipt
        )
        if meter.task is None:
            meter.start()
        used, busy, total = meter.stop()
        if profiler is not None:
            profiler.stop()
        await asyncio.sleep(1.2)  # backends report their counters at most once a second
        xacts = await db_xacts(args.pg_url, dbname) - xacts0
        records = await asyncio.to_thread(receiver.records)
        got = receipts(records, set(backlog_sent.committed))
        times = sorted(got.values())
        lo, hi = percentile(times, 5), percentile(times, 95)
        middle = sum(1 for t in times if lo <= t <= hi)
        backlog = Backlog(
            count=len(got),
            enqueue_s=enqueue_s,
            spawn_to_last_s=times[-1] - spawned if times else float("nan"),
            first_to_last_s=times[-1] - times[0] if times else float("nan"),
            middle_rate=(middle - 1) / (hi - lo) if hi > lo else float("nan"),
            cpu={k: 1000 * v / max(len(got), 1) for k, v in used.items()},
            busy_pct=100 * busy / total if total else float("nan"),
            complete=complete,
            xacts=xacts / max(len(got), 1),
        )
        log(
            f"  received {len(got)}/{expected_total} in {backlog.first_to_last_s:.2f} s "
            f"(first to last): {(len(got) - 1) / backlog.first_to_last_s:.0f}/s"
            if len(got) > 1
            else f"  received {len(got)}/{expected_total}"
        )

        # ---- steady rates: commit -> receipt with a warm worker
        steadies: list[Steady] = []
        offset = args.deliveries
        for rate in args.rates:
            log(f"steady: {rate:g} redemptions/s for {args.seconds:g} s")
            await wait_for_quiet(args.quiet_wait)
            meter = CpuMeter(dbname, meter.parts)
            meter.start()
            sent, took = await redeem_paced(
                setup, rate, args.seconds, args.max_inflight, queue, offset
            )
            offset += round(rate * args.seconds)
            expected_total += len(sent.committed)
            complete = await wait_received(receiver, worker, expected_total, args.timeout)
            used, busy, total = meter.stop()
            records = await asyncio.to_thread(receiver.records)
            got = receipts(records, set(sent.committed))
            delays = sorted(1000 * (at - sent.committed[i]) for i, at in got.items())
            enq = sorted(1000 * (sent.enqueued[i] - sent.committed[i]) for i in got)
            steadies.append(
                Steady(
                    rate=rate,
                    achieved=len(sent.committed) / took,
                    count=len(got),
                    delays_ms=delays,
                    enqueue_ms=enq,
                    cpu={k: 1000 * v / max(len(got), 1) for k, v in used.items()},
                    busy_pct=100 * busy / total if total else float("nan"),
                    complete=complete,
                    failures=sent.failures,
                )
            )
            log(
                f"  {len(got)}/{len(sent.committed)} received; "
                f"p50 {percentile(delays, 50):.1f} ms, p99 {percentile(delays, 99):.1f} ms"
            )
            if sent.failures:
                log(f"  redeem failures: {dict(sent.failures)}")

        # ---- checks
        await asyncio.sleep(0.5)  # a late duplicate would show up here
        records = await asyncio.to_thread(receiver.records)
        per_id = Counter(webhook_id for webhook_id, _ in records)
        async with in_transaction() as conn:
            _, rows = await conn.execute_query(
                "SELECT status, count(*) AS n, sum(attempt_count) AS attempts "
                "FROM webhook_delivery GROUP BY status"
            )
            _, counted = await conn.execute_query(
                "SELECT (SELECT count(*) FROM webhook_attempt) AS attempts, "
                "(SELECT count(*) FROM redemption_event WHERE kind = 'WEBHOOK_POSTED') AS events"
            )
        by_status = {r["status"]: (int(r["n"]), int(r["attempts"])) for r in rows}
        attempt_rows, event_rows = int(counted[0]["attempts"]), int(counted[0]["events"])
        sample = await asyncio.to_thread(receiver.sample)
        body = base64.b64decode(sample.get("body", ""))
        headers = dict(sample.get("headers", {}))
        lower = {k.lower(): v for k, v in headers.items()}
        std = {"webhook-id": lower.get("webhook-id", ""),
               "webhook-timestamp": lower.get("webhook-timestamp", ""),
               "webhook-signature": lower.get("webhook-signature", "")}  # fmt: skip
        sig_ok = verify_standard(
            setup.secret, std, body, int(std["webhook-timestamp"] or 0), tolerance=10**6
        ) and verify_gamify(
            setup.secret,
            {"X-GamifyEngine-Signature": lower.get("x-gamifyengine-signature", "")},
            body,
        )
        expected_ids = set(backlog_sent.committed)
        worker.stop()
        report(
            args,
            backlog,
            steadies,
            per_id=per_id,
            expected=expected_total,
            by_status=by_status,
            attempt_rows=attempt_rows,
            event_rows=event_rows,
            sig_ok=sig_ok,
            body_len=len(body),
            backlog_ids_ok=expected_ids <= set(per_id),
        )
        print_worker_problems(worker.log_path)
        if receiver.log_path.exists() and receiver.log_path.stat().st_size:
            print(f"  receiver stderr: {receiver.log_path.read_text()[-1500:]}")
        if profiler is not None:
            print()
            print(summarize_profile(profiler.raw, backlog.cpu.get("worker", float("nan"))))
            print(f"collapsed stacks (speedscope.app, flamegraph.pl): {profiler.raw}")
        ok = (
            backlog.complete and all(s.complete for s in steadies) and len(per_id) == expected_total
        )
        return 0 if ok else 1
    finally:
        if profiler is not None:
            profiler.stop()
        worker.stop()
        receiver.stop()
        try:
            await redis.flushdb()
        finally:
            await redis.aclose()
            await Tortoise.close_connections()


# ---------------------------------------------------------------------------- report


def report(
    args: argparse.Namespace,
    backlog: Backlog,
    steadies: list[Steady],
    *,
    per_id: Counter[str],
    expected: int,
    by_status: dict[str, tuple[int, int]],
    attempt_rows: int,
    event_rows: int,
    sig_ok: bool,
    body_len: int,
    backlog_ids_ok: bool,
) -> None:
    from workers.settings import WorkerSettings

    cores = os.cpu_count()
    pool = args.pool_size or "20 (default)"
    arq = {"max_jobs": WorkerSettings.max_jobs, "poll_delay": WorkerSettings.poll_delay}
    arq.update(args.arq)
    arq_text = ", ".join(f"{k}={v}" for k, v in arq.items())
    what_if = " (what-if)" if args.arq else ""
    print()
    print(
        f"Webhook delivery benchmark: ONE `gamify worker` (arq {arq_text}{what_if}, "
        f"DB pool {pool}), GAMIFY payload of {body_len} bytes, receiver answers 204"
    )
    print(
        f"NOTE: {cores} CPU cores shared by the worker, the receiver, PostgreSQL, Redis and "
        "this bench process (which also commits the redemptions): figures are for this "
        "machine, not a per-worker ceiling."
    )
    print()
    rate_ff = (backlog.count - 1) / backlog.first_to_last_s if backlog.count > 1 else 0.0
    target = "MET" if rate_ff >= 500 else "NOT MET"
    print(f"backlog of {backlog.count} jobs queued before the worker started:")
    if not backlog.complete:
        print(f"  INCOMPLETE: not all received within --timeout {args.timeout:g} s")
    print(f"  deliveries/s, first to last receipt      {rate_ff:8.0f}   (target >= 500: {target})")
    print(f"  deliveries/s, 5th-95th pct of receipts   {backlog.middle_rate:8.0f}")
    print(
        f"  worker spawn to last receipt             {backlog.spawn_to_last_s:8.2f} s "
        "(includes interpreter start and imports)"
    )
    print(f"  machine busy while draining              {backlog.busy_pct:8.0f} %")
    print(
        f"  PostgreSQL transactions per delivery     {backlog.xacts:8.1f}   (approximate; "
        "a statement outside BEGIN..COMMIT is one, the pool's reset query too)"
    )
    print("  CPU ms per delivery: " + ", ".join(f"{k} {v:.2f}" for k, v in backlog.cpu.items()))
    worker_ms = backlog.cpu.get("worker", 0.0)
    if worker_ms > 0:
        print(
            f"  worker CPU-bound ceiling (1000 / worker CPU ms per delivery) {1000 / worker_ms:6.0f}"
            " deliveries/s: what one worker would do with a core to itself"
        )
    print()
    head = (
        f"{'target/s':>8} {'achieved':>8} {'n':>6} | {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} | {'enq p50':>7} | {'busy':>5} | {'worker CPU ms/dlv':>17}"
    )
    print("steady load, commit -> receipt (receiver time.time() - time.time() after commit):")
    print(head)
    print("-" * len(head))
    for s in steadies:
        d = s.delays_ms
        print(
            f"{s.rate:8.0f} {s.achieved:8.0f} {s.count:6d} | {percentile(d, 50):7.1f} "
            f"{percentile(d, 90):7.1f} {percentile(d, 99):7.1f} {d[-1] if d else float('nan'):7.1f}"
            f" | {percentile(s.enqueue_ms, 50):7.2f} | {s.busy_pct:4.0f}% | "
            f"{s.cpu.get('worker', float('nan')):17.2f}"
        )
    print("-" * len(head))
    print(
        "enq p50 = commit -> job enqueued (the API's share of the delay); busy = whole machine CPU"
    )
    for s in steadies:
        print(
            f"  {s.rate:g}/s CPU ms per delivery: "
            + ", ".join(f"{k} {v:.2f}" for k, v in s.cpu.items())
        )
    print()
    dupes = sum(n - 1 for n in per_id.values() if n > 1)
    print("checks:")
    print(
        f"  receiver: {sum(per_id.values())} POSTs, {len(per_id)} distinct webhook-ids, "
        f"expected {expected}; duplicates {dupes}; all backlog ids seen: {backlog_ids_ok}"
    )
    print(
        "  outbox: "
        + ", ".join(f"{st} {n} ({a} attempts)" for st, (n, a) in sorted(by_status.items()))
        + f"; webhook_attempt rows {attempt_rows}; WEBHOOK_POSTED events {event_rows}"
    )
    print(
        f"  signatures (webhook-signature + X-GamifyEngine-Signature) of one POST valid: {sig_ok}"
    )
    for s in steadies:
        if not s.complete:
            print(f"  INCOMPLETE: at {s.rate:g}/s not all received within {args.timeout:g} s")
        if s.failures:
            print(f"  redeem failures at {s.rate:g}/s: {dict(s.failures)}")


def print_worker_problems(log_path: Path) -> None:
    """Errors the worker logged (failed jobs: a failed job's delivery waits for its lease
    to run out and the relay, which shows as a long tail and a duplicate POST)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return
    errors = [
        line
        for line in lines
        if "Error" in line or "ERROR" in line or "WARNING" in line or "Exception" in line
    ]
    if not errors:
        print("  worker log: no errors or warnings")
        return
    kinds = Counter(line.strip()[:160] for line in errors)
    print(f"  worker log: {len(errors)} error/warning lines, e.g.:")
    for line, n in kinds.most_common(5):
        print(f"    {n:4d} x {line}")


# (label, test on the frame names of one stack); the first that matches takes the sample.
PROFILE_CATEGORIES: list[tuple[str, Any]] = [
    ("job: HTTP POST (workers/webhook_http.post)", lambda n: "post" in n),
    ("job: lease (models/outbox.lease)", lambda n: "lease" in n or "lease_with_endpoint" in n),
    ("job: record_attempt (models/outbox)", lambda n: "record_attempt" in n or "record_delivered" in n),
    ("job: announce_redemption (models/live)", lambda n: "announce_redemption" in n),
    ("job: apply_provider_answer", lambda n: "apply_provider_answer" in n),
    ("job: signing", lambda n: "signature_headers" in n),
    ("job: other (endpoint SELECT, JSON, glue)", lambda n: any("deliver_webhook" in f for f in n)),
    ("cron: relay_webhooks (re-enqueues due rows)", lambda n: "relay_webhooks" in n),
    ("cron: other", lambda n: "settle_points" in n or "relay_sync_batches" in n),
    ("arq: start_jobs (WATCH/EXISTS/ZSCORE/MULTI per job)", lambda n: "Worker.start_jobs" in n),
    ("arq: run_job (job fetch, unpickle, timers)", lambda n: "Worker.run_job" in n),
    ("arq: finish_job", lambda n: "Worker.finish_job" in n),
    ("arq: other (poll, cron)", lambda n: any(f.startswith("Worker.") for f in n)),
    ("asyncpg pool release", lambda n: "PoolConnectionHolder.release" in n),
]  # fmt: skip


def summarize_profile(raw: Path, worker_ms: float = float("nan")) -> str:
    """Where the worker's busy time goes, from py-spy's collapsed stacks.

    Coroutines resumed by the event loop show only their innermost frames, so some
    database, HTTP and Redis work appears as "fragments" outside the job that caused it."""
    try:
        text = raw.read_text()
    except OSError:
        return f"(no profile at {raw})"
    stacks: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            stacks[stack] += int(samples)
    total = sum(stacks.values())
    if not total:
        return "(empty profile)"
    categories: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    for stack, n in stacks.items():
        paths = [f for f in stack.split(";") if f]
        names = [f.split(" (", 1)[0] for f in paths]
        label = next((lab for lab, test in PROFILE_CATEGORIES if test(names)), None)
        if label is None:
            joined = stack
            if "asyncpg/" in joined:
                label = "asyncpg (fragments)"
            elif any(m in joined for m in ("tortoise/", "pypika")):
                label = "Tortoise ORM (fragments)"
            elif any(m in joined for m in ("httpx/", "httpcore/", "anyio/", "h11/", "aiohttp/")):
                label = "HTTP client (fragments)"
            elif "redis/" in joined or "asyncio/streams.py" in joined:  # redis-py's streams
                label = "redis-py (fragments)"
            elif names and names[-1] == "Runner.run":
                label = "event loop itself (uvloop: epoll, callbacks)"
            else:
                label = "other"
        categories[label] += n
        if paths:
            leaf[_frame_name(paths[-1])] += n
    lines = [
        f"worker profile: {total} samples of busy time; ms = share x {worker_ms:.2f} ms "
        "worker CPU per delivery",
    ]
    for label, n in categories.most_common():
        lines.append(f"  {100 * n / total:5.1f}%  {worker_ms * n / total:5.2f} ms  {label}")
    lines.append("self time (top 10):")
    for name, n in leaf.most_common(10):
        lines.append(f"  {100 * n / total:5.1f}%  {name}")
    return "\n".join(lines)


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"
    func, _, rest = frame.partition(" (")
    path = rest.rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{func} ({path})"


# ---------------------------------------------------------------------------- main


def server_parser(doc: str | None, redis_db: int) -> argparse.ArgumentParser:
    """A parser with the servers every benchmark here needs: --pg-url and --redis-url."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to create the benchmark database in (a superuser)",
    )
    ap.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"),
        help="a DEDICATED Redis db index (FLUSHDB at start and end; db 0 is refused)",
    )
    return ap


def check_redis_db(ap: argparse.ArgumentParser, url: str) -> None:
    db = urlsplit(url).path.strip("/") or "0"
    if db == "0" and "db=" not in url:
        ap.error("use a dedicated Redis db index (e.g. redis://127.0.0.1:6379/7): it is flushed")


def parse_args() -> argparse.Namespace:
    ap = server_parser(__doc__, redis_db=7)
    ap.add_argument("--deliveries", type=int, default=5000, help="backlog size")
    ap.add_argument("--rates", default="100,200", help="steady redemptions/s, comma list")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each steady run")
    ap.add_argument("--members", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8, help="bench redeem lanes (backlog)")
    ap.add_argument("--max-inflight", type=int, default=16, help="steady: redeems in flight")
    ap.add_argument("--bench-pool", type=int, default=8, help="the bench's own DB pool")
    ap.add_argument("--pool-size", type=int, default=0, help="GAMIFY_DB_POOL_SIZE of the worker")
    ap.add_argument("--timeout", type=float, default=120.0, help="max wait for receipts, s")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each measurement, wait up to this many s for the machine to be idle",
    )
    ap.add_argument("--profile", metavar="DIR", help="py-spy the worker while it drains")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database")
    ap.add_argument(
        "--arq",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="what-if: an arq WorkerSettings value for the worker (e.g. poll_delay=0.002)",
    )
    ap.add_argument(
        "--stock-claim",
        action="store_true",
        help="what-if: arq's stock job claim (4 Redis round trips) instead of workers/claiming.py",
    )
    args = ap.parse_args()
    try:
        args.arq = {k: ast.literal_eval(v) for k, v in (a.split("=", 1) for a in args.arq)}
    except (ValueError, SyntaxError):
        ap.error("--arq takes NAME=VALUE with a Python literal value (poll_delay=0.002)")
    if args.stock_claim:
        args.arq["stock_claim"] = True
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    check_redis_db(ap, args.redis_url)
    if args.profile:
        args.py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(args.py_spy).exists():
            ap.error("py-spy is missing: pip install py-spy")
    return args


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def run_in_scratch_database(
    args: argparse.Namespace,
    prefix: str,
    children: list[subprocess.Popen[bytes]],
    body: Callable[[str, str, Path], Coroutine[Any, Any, int]],
    stopped: str,
    runner: asyncio.Runner | None = None,
) -> int:
    """Run `body(db_url, dbname, workdir)` in a database and data directory of its own;
    whatever ends it (done, error, Ctrl-C, SIGTERM): our processes, our Redis db, our
    database and our files are cleaned up."""
    os.chdir(ROOT)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["GAMIFY_DATA_DIR"] = str(workdir / "data")
    dbname = f"gamify_bench_{secrets.token_hex(5)}"
    db_url = with_database(args.pg_url, dbname)
    created = False
    try:
        with runner or asyncio.Runner() as run:
            run.run(pg(args.pg_url, f'CREATE DATABASE "{dbname}"'))
            created = True
            log(f"database {dbname}; Redis {args.redis_url}; {os.cpu_count()} cores")
            return run.run(body(db_url, dbname, workdir))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted: cleaning up")
        return 130
    finally:
        for proc in reversed(children):
            stop_process(proc)
        flush_redis(args.redis_url)
        if created and not args.keep_db:
            asyncio.run(pg(args.pg_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            log(f"dropped {dbname}; Redis db flushed; {stopped} stopped")
        elif created:
            log(f"kept database {dbname}")
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    args = parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    return run_in_scratch_database(
        args,
        "gamify-wh-bench-",
        CHILDREN,
        lambda db_url, dbname, workdir: run(args, db_url, dbname, workdir),
        "worker and receiver",
        runner,
    )


if __name__ == "__main__":
    sys.exit(main())
