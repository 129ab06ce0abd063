#!/usr/bin/env python
"""Live updates: 1,000 GraphQL subscribers on ONE API process, commit -> receipt latency.

Run by hand from the repository root (not a test):

    . .venv/bin/activate
    python bench/subscriptions.py                     # 1 and 1,000 subscribers, 1 change/s
    python bench/subscriptions.py --rate 2 --duration 30
    python bench/subscriptions.py --profile /tmp/subs-prof   # plus a py-spy'd extra run
    python bench/subscriptions.py --groups 10         # 10 distinct subscriptions, not 1
    python bench/subscriptions.py --no-baseline --whatif unshared   # a patched server (what-if)

The paced rate is modest on purpose: the run measures latency, not a queue (the burst run
shows the ceiling). Identical subscriptions share one execution per event (engine/
live_groups.py): all 1,000 subscribers here send the same document, so they make one group;
--groups K has subscriber i also send an unused variable `group: i % K`, making K distinct
subscriptions of identical results, as K different filters would.

What it does:
  1. creates a database gamify_bench_<random> on --pg-url, migrates it, seeds one tenant,
     an API key, a reward, a few members with points, and enough REDEEMED redemptions
     (in-process, through the domain functions; nothing is published for those);
  2. FLUSHDB on --redis-url (a dedicated db index), then starts ONE API process,
     `gamify serve --no-worker` (DATABASE_URL, REDIS_URL, GAMIFY_PORT from the bench);
  3. starts bench/subscriptions_client.py, a separate process holding the WebSocket
     connections (graphql-transport-ws, `connection_init` with the API key), each running
       subscription { redemptionUpdates(filter: {status: [FULFILLED]}) { ... } }
     It timestamps every frame as it arrives and reads Redis' pub/sub directly too;
  4. per scenario (1 subscriber = baseline, then --subscribers): warm-up status changes until
     every subscriber has received one, then a paced run: `completeRedemption(status:
     FULFILLED)` over HTTP with the API key, --rate per second for --duration seconds;
     then, with all subscribers, a burst run (--burst-concurrency mutations back to back
     for --burst-duration s) for the publisher's throughput;
  5. prints a table; stops everything; drops the database; FLUSHDB.

--whatif unshared|asgi serves through bench/subscriptions_whatif.py instead: the engine with
one part switched off (no groups; no direct frame writes), to see what it buys (see that file).

Latency is per delivery (every subscriber x event pair): receipt time at the client minus the
event's `at` (RedemptionEvent.created_at, stamped by the server inside the transaction
just before its UPDATE/INSERT/COMMIT, with the same clock: one machine). So it slightly
overstates commit -> receipt (by the rest of that transaction, about a millisecond).
Split: `at` -> Redis (when a raw Redis subscriber got the message: commit, the re-read in
announce_redemption, publish) and Redis -> subscriber (the API process' fan-out).

Needs PostgreSQL (superuser, e.g. trust on 127.0.0.1) and Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
import asyncpg  # noqa: E402
import httpx  # noqa: E402
import redis  # noqa: E402
from measure import free_port, log, machine_cpu, proc_cpu, wait_for_quiet, with_database  # noqa: E402

MEMBERS = 20
START_POINTS = 10**9
SUBSCRIPTION = (
    "subscription { redemptionUpdates(filter: {status: [FULFILLED]}) "
    "{ eventId oldStatus newStatus at redemption { id status fulfillmentData } } }"
)
COMPLETE = (
    "mutation Complete($id: ID!) { completeRedemption(id: $id, status: FULFILLED) "
    "{ redemption { id status } errors { code message } } }"
)


# ---------------------------------------------------------------------------- helpers


async def _sql(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


def sql(url: str, query: str) -> list[asyncpg.Record]:
    return asyncio.run(_sql(url, query))


def pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


# ---------------------------------------------------------------------------- setup


@dataclass
class Seeded:
    url: str
    tenant_id: str
    api_key: str
    redemption_ids: list[str]


async def seed(url: str, redemptions: int) -> Seeded:
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate

    from core.settings import tortoise_config
    from models.catalog.rewards import RewardFields, create_reward
    from models.catalog.tables import RewardType
    from models.members.upserts import upsert_member
    from models.points.awards import AwardRequest, award_points
    from models.points.tables import LedgerSource
    from models.redemptions.redeem import RedeemRequest, redeem_with_effects
    from models.tenancy.access import create_api_key, create_tenant

    config = tortoise_config(url, 5)
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        slug = f"bench-{secrets.token_hex(3)}"
        new = await create_tenant("Bench", slug, f"admin@{slug}.test", secrets.token_urlsafe(16))
        tenant_id = new.tenant.id
        _, api_key = await create_api_key(tenant_id, "bench")
        reward = await create_reward(
            tenant_id,
            RewardFields(
                name="Bench voucher", type=RewardType.VOUCHER, point_cost=1, stock=2_000_000_000
            ),
        )
        members = []
        for n in range(MEMBERS):
            member, _ = await upsert_member(
                tenant_id, f"bench-{n}", email=f"m{n}@bench.test", name=f"Member {n}"
            )
            await award_points(
                AwardRequest(
                    tenant_id=tenant_id,
                    member_id=member.id,
                    definition_id=None,
                    amount=START_POINTS,
                    source=LedgerSource.PURCHASE,
                    description="bench",
                )
            )
            members.append(member)

        async def redeem_for(member: Any, count: int) -> list[str]:
            out = []
            for _ in range(count):
                done = await redeem_with_effects(
                    RedeemRequest(
                        tenant_id=tenant_id, member_id=member.id, reward_id=reward.id, actor="bench"
                    ),
                    member,
                )
                out.append(str(done.redemption.id))
            return out

        per = -(-redemptions // MEMBERS)
        chunks = await asyncio.gather(*(redeem_for(m, per) for m in members))
    finally:
        await Tortoise.close_connections()
    ids = [i for chunk in chunks for i in chunk]
    return Seeded(url, str(tenant_id), api_key, ids)


# ---------------------------------------------------------------------------- server


class Server:
    """One API process: `gamify serve --no-worker`."""

    def __init__(self, args: argparse.Namespace, db_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / "server.log"
        self.env = dict(os.environ)
        self.env.update(
            DATABASE_URL=db_url,
            REDIS_URL=args.redis_url,
            GAMIFY_HOST="127.0.0.1",
            GAMIFY_PORT=str(self.port),
            GAMIFY_DATA_DIR=str(workdir / "data"),
            GAMIFY_SECRET_KEY=secrets.token_urlsafe(48),
            GAMIFY_GRAPHIQL="0",
            GAMIFY_DB_POOL_SIZE=str(args.pool_size),
            PYTHONUNBUFFERED="1",
        )
        gamify = Path(sys.executable).parent / "gamify"
        if args.whatif:
            self.cmd = [sys.executable, str(BENCH / "subscriptions_whatif.py"), args.whatif]
        elif gamify.exists():
            self.cmd = [str(gamify), "serve", "--no-worker"]
        else:
            self.cmd = [sys.executable, "-m", "engine.cli", "serve", "--no-worker"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{self.log_tail()}")
            try:
                url = f"http://127.0.0.1:{self.port}/health"
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the server did not start:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)  # its own session, started above
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)


# ---------------------------------------------------------------------------- client


CLIENT_PIDS: list[int] = []  # to be sure none outlives the benchmark


def kill_leftover_clients() -> None:
    for pid in CLIENT_PIDS:
        try:
            if b"subscriptions_client.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Client:
    """bench/subscriptions_client.py, driven over its stdin/stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, server: Server, seeded: Seeded, args: argparse.Namespace) -> Client:
        env = dict(os.environ, SUBS_BENCH_TOKEN=seeded.api_key)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(BENCH / "subscriptions_client.py"),
            "--port", str(server.port), "--query", args.query,
            "--channel", f"gamify:{seeded.tenant_id}:redemptions",
            "--redis-url", args.redis_url, "--groups", str(args.groups),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            start_new_session=True, limit=2**20,
        )  # fmt: skip
        CLIENT_PIDS.append(proc.pid)
        client = cls(proc)
        await client._read()  # hello
        return client

    async def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise SystemExit("the subscriber client exited")
        return dict(json.loads(line))

    async def call(self, cmd: str, **kw: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **kw}) + "\n").encode())
        await self.proc.stdin.drain()
        return await self._read()

    async def stop(self) -> None:
        if self.proc.returncode is not None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b'{"cmd": "quit"}\n')
            await self.proc.stdin.drain()
            await asyncio.wait_for(self.proc.wait(), 10)
        except (OSError, TimeoutError, ConnectionError):
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()


# ---------------------------------------------------------------------------- publisher


@dataclass
class Sent:
    rid: str
    sent: float
    answered: float = 0.0
    ok: bool = False
    error: str = ""


class Publisher:
    def __init__(self, server: Server, seeded: Seeded) -> None:
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}",
            headers={"Authorization": f"Bearer {seeded.api_key}"},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            timeout=300.0,
        )
        self.ids = list(seeded.redemption_ids)

    def take(self) -> str | None:
        return self.ids.pop() if self.ids else None

    async def complete(self, rid: str) -> Sent:
        s = Sent(rid, time.time())
        try:
            r = await self.http.post("/graphql", json={"query": COMPLETE, "variables": {"id": rid}})
            s.answered = time.time()
            body = r.json()
            payload = (body.get("data") or {}).get("completeRedemption") or {}
            status = (payload.get("redemption") or {}).get("status")
            s.ok = status == "FULFILLED" and not payload.get("errors")
            if not s.ok:
                s.error = json.dumps(body)[:300]
        except (httpx.HTTPError, ValueError) as exc:
            s.answered = time.time()
            s.error = repr(exc)
        return s

    async def paced(self, rate: float, duration: float) -> list[Sent]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        tasks: list[asyncio.Task[Sent]] = []
        n = 0
        while n / rate < duration:
            delay = t0 + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            rid = self.take()
            if rid is None:
                log("ran out of redemptions")
                break
            tasks.append(asyncio.create_task(self.complete(rid)))
            n += 1
        return list(await asyncio.gather(*tasks))

    async def burst(self, concurrency: int, duration: float) -> list[Sent]:
        deadline = time.monotonic() + duration
        out: list[Sent] = []

        async def worker() -> None:
            while time.monotonic() < deadline:
                rid = self.take()
                if rid is None:
                    return
                out.append(await self.complete(rid))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return out

    async def close(self) -> None:
        await self.http.aclose()


# ---------------------------------------------------------------------------- phases


@dataclass
class Phase:
    name: str
    subscribers: int
    sent: list[Sent]
    dump: dict[str, Any]
    server_cpu: float
    client_cpu: float
    self_cpu: float
    busy_pct: float
    rest_pct: float
    wall: float
    drain_s: float
    stats: dict[str, Any] = field(default_factory=dict)


async def settle(client: Client, subscribers: int, limit: float) -> float:
    """Wait until every subscriber has every event Redis saw since the last dump, or
    until nothing more arrives for 5 s; returns the seconds waited."""
    started = time.monotonic()
    last, changed = None, time.monotonic()
    while time.monotonic() - started < limit:
        count = await client.call("count")
        now = (count["records"], count["events"])
        if now != last:
            last, changed = now, time.monotonic()
        quiet = time.monotonic() - changed
        if count["records"] >= count["events"] * subscribers and quiet > 0.5:
            break
        if quiet > 5.0:
            break
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def warm_up(client: Client, pub: Publisher, subscribers: int, workdir: Path) -> None:
    """Status changes, one at a time, until every subscriber has received one (so all are
    subscribed and warm); what arrived is then thrown away."""
    sent: list[Sent] = []
    count: dict[str, Any] = {}
    for _ in range(30):
        sent.append(await pub.complete(pub.take() or ""))
        if not sent[-1].ok:
            raise SystemExit(f"a completeRedemption mutation failed: {sent[-1].error}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            count = await client.call("count")
            if count["records"] >= count["events"] * subscribers and count["events"]:
                break
            await asyncio.sleep(0.1)
        if count.get("with_data", 0) >= subscribers:
            break
    else:
        path = workdir / "warmup.json"
        dumped = await client.call("dump", path=str(path))
        sample = json.loads(path.read_text()).get("sample")
        raise SystemExit(
            f"only {count.get('with_data')}/{subscribers} subscribers received anything "
            f"during the warm-up; client: {dumped}; sample: {sample}"
        )
    await settle(client, subscribers, 120)
    await client.call("dump", path=str(workdir / "discard.json"))


async def run_phase(
    name: str,
    client: Client,
    pub: Publisher,
    server: Server,
    subscribers: int,
    workdir: Path,
    run: Any,
) -> Phase:
    client_pid = client.proc.pid
    s0, c0, m0 = proc_cpu(server.pid), proc_cpu(client_pid), proc_cpu(os.getpid())
    b0, t0 = machine_cpu()
    wall0 = time.monotonic()
    sent = await run()
    wall = time.monotonic() - wall0
    drain = await settle(client, subscribers, 300)
    s1, c1, m1 = proc_cpu(server.pid), proc_cpu(client_pid), proc_cpu(os.getpid())
    b1, t1 = machine_cpu()
    path = workdir / f"{''.join(c if c.isalnum() else '-' for c in name)}.json"
    await client.call("dump", path=str(path))
    dump = json.loads(path.read_text())
    path.unlink()
    return Phase(
        name=name,
        subscribers=subscribers,
        sent=sent,
        dump=dump,
        server_cpu=s1 - s0,
        client_cpu=c1 - c0,
        self_cpu=m1 - m0,
        busy_pct=100 * (b1 - b0) / max(t1 - t0, 1e-9),
        rest_pct=100 * max(0.0, (b1 - b0) - (s1 - s0) - (c1 - c0) - (m1 - m0)) / max(t1 - t0, 1e-9),
        wall=wall,
        drain_s=drain,
    )


def analyse(phase: Phase) -> dict[str, Any]:
    d = phase.dump
    at = {int(k): v for k, v in d["at"].items()}
    published = {int(k): v for k, v in d["published"].items()}
    lat: list[float] = []
    fanout: list[float] = []
    per_event: dict[int, list[float]] = defaultdict(list)
    for event, recv in zip(d["event"], d["recv"], strict=True):
        if event in at:
            ms = (recv - at[event]) * 1000
            lat.append(ms)
            per_event[event].append(ms)
        if event in published:
            fanout.append((recv - published[event]) * 1000)
    lat.sort()
    fanout.sort()
    to_redis = sorted((published[e] - at[e]) * 1000 for e in at if e in published)
    firsts = sorted(min(v) for v in per_event.values())
    lasts = sorted(max(v) for v in per_event.values())
    ok = [s for s in phase.sent if s.ok]
    mutation = sorted((s.answered - s.sent) * 1000 for s in ok)
    events = set(published) | set(at)
    span_pub = (max(s.answered for s in ok) - min(s.sent for s in ok)) if ok else float("nan")
    recv = d["recv"]
    span_recv = (max(recv) - min(s.sent for s in ok)) if recv and ok else float("nan")
    deliveries = len(recv)
    return {
        "events": len(events),
        "ok": len(ok),
        "failed": len(phase.sent) - len(ok),
        "first_error": next((s.error for s in phase.sent if not s.ok), ""),
        "deliveries": deliveries,
        "expected": len(events) * phase.subscribers,
        "p50": pct(lat, 50),
        "p90": pct(lat, 90),
        "p99": pct(lat, 99),
        "max": lat[-1] if lat else float("nan"),
        "first_p50": pct(firsts, 50),
        "last_p50": pct(lasts, 50),
        "last_p99": pct(lasts, 99),
        "to_redis_p50": pct(to_redis, 50),
        "to_redis_p99": pct(to_redis, 99),
        "fanout_p50": pct(fanout, 50),
        "fanout_p99": pct(fanout, 99),
        "mutation_p50": pct(mutation, 50),
        "mutation_p99": pct(mutation, 99),
        "events_per_s": len(ok) / span_pub if ok else 0.0,
        "deliveries_per_s": deliveries / span_recv if recv else 0.0,
        "server_cpu_ms_per_event": 1000 * phase.server_cpu / max(len(ok), 1),
        "server_cpu_us_per_delivery": 1e6 * phase.server_cpu / max(deliveries, 1),
        "server_cpu_pct": 100 * phase.server_cpu / max(phase.wall + phase.drain_s, 1e-9),
        "client_cpu_pct": 100 * phase.client_cpu / max(phase.wall + phase.drain_s, 1e-9),
        "other": d["other"],
        "sample": d["sample"],
        "n_closed": d["n_closed"],
        "closed": d["closed"],
    }


# ---------------------------------------------------------------------------- profile


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        log("py-spy not found (pip install py-spy): no profile")
        return None
    cmd = [
        py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
        "--nonblocking", "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarise_profile(out: Path, top: int = 22) -> list[str]:
    stacks: Counter[str] = Counter()
    if out.exists():
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit():
                stacks[stack] += int(count)
    total = sum(stacks.values())
    if not total:
        return ["(no samples: py-spy needs ptrace permission)"]

    def short(frame: str) -> str:
        # "func (path/to/file.py:123)" -> "func (file.py)"
        name, _, where = frame.partition(" (")
        path = where.rstrip(")").rsplit(":", 1)[0]
        parts = Path(path).parts
        keep = "/".join(parts[-2:]) if parts else path
        return f"{name} ({keep})"

    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for stack, n in stacks.items():
        frames = [short(f) for f in stack.split(";") if f]
        for f in set(frames):
            inclusive[f] += n
        if frames:
            self_time[frames[-1]] += n
    lines = [f"{total} samples (py-spy leaves idle time out)", "inclusive:"]
    skip = ("<module>", "run (", "run_until_complete", "_run_once", "main (", "serve (", "_run (")
    shown = 0
    for f, n in inclusive.most_common():
        if f.startswith(skip):
            continue
        lines.append(f"  {100 * n / total:5.1f}%  {f}")
        shown += 1
        if shown >= top:
            break
    lines.append("self:")
    for f, n in self_time.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}%  {f}")
    return lines


# ---------------------------------------------------------------------------- report


def fmt(v: float, nd: int = 1) -> str:
    return "-" if v != v else f"{v:,.{nd}f}"  # NaN -> "-"


def report(args: argparse.Namespace, phases: list[Phase]) -> None:
    print()
    print(
        "Live updates: completeRedemption(FULFILLED) -> redemptionUpdates subscribers, ONE API process"
    )
    if args.whatif:
        print(
            f"  WHAT-IF: server patched by bench/subscriptions_whatif.py {args.whatif}, not the engine"
        )
    print(f"  subscription: {args.query}")
    if args.groups > 1:
        print(
            f"  as {args.groups} distinct subscriptions (variable `group`: subscriber % {args.groups})"
        )
    print(
        "  latency = subscriber receipt - event `at` (stamped in the transaction, before "
        "COMMIT), over every (subscriber, event) pair; ms"
    )
    print()
    head = (
        f"{'run':<22}{'subs':>6}{'events':>8}{'deliv.':>9}{'p50':>8}{'p90':>8}{'p99':>8}"
        f"{'max':>8}{'1st p50':>9}{'last p50':>9}{'->Redis':>9}{'fan-out':>9}{'mut p50':>9}"
        f"{'ev/s':>7}{'deliv/s':>9}"
    )
    print(head)
    print("-" * len(head))
    for ph in phases:
        s = ph.stats
        print(
            f"{ph.name:<22}{ph.subscribers:>6}{s['ok']:>8}{s['deliveries']:>9}"
            f"{fmt(s['p50']):>8}{fmt(s['p90']):>8}{fmt(s['p99']):>8}{fmt(s['max'], 0):>8}"
            f"{fmt(s['first_p50']):>9}{fmt(s['last_p50']):>9}{fmt(s['to_redis_p50']):>9}"
            f"{fmt(s['fanout_p50']):>9}{fmt(s['mutation_p50']):>9}"
            f"{fmt(s['events_per_s']):>7}{fmt(s['deliveries_per_s'], 0):>9}"
        )
    print()
    print("  1st/last p50: median over events of the first / last subscriber's latency")
    print("  ->Redis: `at` -> a raw Redis subscriber has it (commit, re-read, publish), p50")
    print("  fan-out: Redis -> WebSocket subscriber (the API process' work), p50 per delivery")
    print("  mut p50: the publisher's completeRedemption round trip; ev/s: status changes/s")
    print("  CPU%: of one core; machine%: both cores; rest%: PostgreSQL, Redis, anything else")
    print()
    print(f"{'run':<22}{'srv CPU%':>9}{'cli CPU%':>9}{'machine%':>9}{'rest%':>7}{'ms CPU/ev':>10}"
          f"{'us CPU/deliv':>13}{'p99 ->Redis':>12}{'p99 fan-out':>12}{'mut p99':>9}"
          f"{'drain s':>8}{'missing':>8}")  # fmt: skip
    for ph in phases:
        s = ph.stats
        missing = s["expected"] - s["deliveries"]
        print(
            f"{ph.name:<22}{fmt(s['server_cpu_pct'], 0):>9}{fmt(s['client_cpu_pct'], 0):>9}"
            f"{fmt(ph.busy_pct, 0):>9}{fmt(ph.rest_pct, 0):>7}{fmt(s['server_cpu_ms_per_event']):>10}"
            f"{fmt(s['server_cpu_us_per_delivery'], 0):>13}{fmt(s['to_redis_p99']):>12}"
            f"{fmt(s['fanout_p99']):>12}{fmt(s['mutation_p99']):>9}{fmt(ph.drain_s):>8}"
            f"{missing:>8}"
        )
    for ph in phases:
        s = ph.stats
        if s["failed"]:
            print(f"  {ph.name}: {s['failed']} mutations failed, e.g. {s['first_error']}")
        if s["other"]:
            print(f"  {ph.name}: non-data messages {s['other']}, e.g. {s['sample']}")
        if s["n_closed"]:
            print(f"  {ph.name}: {s['n_closed']} subscribers closed, e.g. {s['closed'][:2]}")
    target = next((p for p in phases if p.name.startswith("paced") and p.subscribers > 1), None)
    if target is not None:
        p50 = target.stats["p50"]
        verdict = "MET" if p50 < args.target_ms else "NOT MET"
        print()
        print(
            f"target p50 < {args.target_ms:g} ms with {target.subscribers} subscribers at "
            f"{args.rate:g} changes/s: {verdict} (p50 {fmt(p50)} ms, p99 "
            f"{fmt(target.stats['p99'])} ms)"
        )
    print()
    print(
        f"Machine: {os.cpu_count()} CPUs shared by the API process, the subscriber client, "
        "the publisher (this process), PostgreSQL and Redis; figures from a development "
        "box, not a capacity plan."
    )


# ---------------------------------------------------------------------------- main


async def measure(
    args: argparse.Namespace, server: Server, seeded: Seeded, workdir: Path
) -> tuple[list[Phase], list[str]]:
    pub = Publisher(server, seeded)
    client: Client | None = None
    phases: list[Phase] = []
    profile: list[str] = []
    try:
        for subs in ([1] if not args.no_baseline else []) + [args.subscribers]:
            client = await Client.start(server, seeded, args)
            log(f"{subs} subscriber(s): connecting")
            info = await client.call("connect", n=subs)
            if info["failed"]:
                raise SystemExit(f"{info['failed']} subscribers failed: {info['first_failure']}")
            log(f"{subs} connected in {info['seconds']:.1f} s; warming up")
            await warm_up(client, pub, subs, workdir)
            await asyncio.to_thread(wait_for_quiet, args.quiet_wait)

            log(f"paced: {args.rate:g} changes/s for {args.duration:g} s, {subs} subscriber(s)")
            ph = await run_phase(
                f"paced {args.rate:g}/s", client, pub, server, subs, workdir,
                lambda: pub.paced(args.rate, args.duration),
            )  # fmt: skip
            ph.stats = analyse(ph)
            phases.append(ph)
            log(f"  p50 {fmt(ph.stats['p50'])} ms, p99 {fmt(ph.stats['p99'])} ms")

            if subs == args.subscribers and args.burst_duration > 0:
                await asyncio.to_thread(wait_for_quiet, args.quiet_wait)
                log(
                    f"burst: {args.burst_concurrency} mutations in flight for "
                    f"{args.burst_duration:g} s, {subs} subscribers"
                )
                ph = await run_phase(
                    f"burst x{args.burst_concurrency}", client, pub, server, subs, workdir,
                    lambda: pub.burst(args.burst_concurrency, args.burst_duration),
                )  # fmt: skip
                ph.stats = analyse(ph)
                phases.append(ph)
                log(
                    f"  {fmt(ph.stats['events_per_s'])} changes/s, "
                    f"{fmt(ph.stats['deliveries_per_s'], 0)} deliveries/s"
                )

            if subs == args.subscribers and args.profile:
                out = Path(args.profile)
                await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
                raw = out / f"server-{subs}subs-paced.txt"
                log(f"profile: paced run again with py-spy on the server -> {raw}")
                spy = start_profiler(server.pid, args.duration, raw)
                ph = await run_phase(
                    "profiled", client, pub, server, subs, workdir,
                    lambda: pub.paced(args.rate, args.duration),
                )  # fmt: skip
                if spy is not None:
                    try:
                        spy.wait(timeout=args.duration + 30)
                    except subprocess.TimeoutExpired:
                        spy.terminate()
                        spy.wait(timeout=10)
                    profile = summarise_profile(raw)
                    (out / "summary.txt").write_text("\n".join(profile) + "\n")
                ph.stats = analyse(ph)
                log(f"  profiled run p50 {fmt(ph.stats['p50'])} ms (py-spy attached)")

            await client.call("close")
            await client.stop()
            client = None
    finally:
        if client is not None:
            await client.stop()
        await pub.close()
    return phases, profile


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to create the benchmark database in (a superuser)",
    )
    ap.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
        help="a Redis db index of the benchmark's own: FLUSHDB at start and end",
    )
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=1.0, help="status changes per second (paced)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of the paced runs")
    ap.add_argument("--burst-duration", type=float, default=10.0, help="0: no burst run")
    ap.add_argument("--burst-concurrency", type=int, default=4)
    ap.add_argument("--no-baseline", action="store_true", help="skip the 1-subscriber run")
    ap.add_argument("--pool-size", type=int, default=20, help="GAMIFY_DB_POOL_SIZE")
    ap.add_argument("--query", default=SUBSCRIPTION, help="the subscription document")
    ap.add_argument("--target-ms", type=float, default=20.0)
    ap.add_argument("--quiet-wait", type=float, default=20.0,
                    help="before each run, wait up to this many seconds for an idle machine")  # fmt: skip
    ap.add_argument("--groups", type=int, default=1,
                    help="distinct subscriptions (of identical results) among the subscribers")  # fmt: skip
    ap.add_argument("--whatif", choices=("unshared", "asgi"),
                    help="serve through bench/subscriptions_whatif.py (patched engine; see there)")  # fmt: skip
    ap.add_argument("--profile", metavar="DIR",
                    help="after the measured runs, py-spy the server during one more paced run")  # fmt: skip
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database (debugging)")
    return ap.parse_args()


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    os.chdir(ROOT)
    workdir = Path(tempfile.mkdtemp(prefix="gamify-subs-bench-"))
    dbname = f"gamify_bench_{secrets.token_hex(5)}"
    db_url = with_database(args.pg_url, dbname)
    r = redis.Redis.from_url(args.redis_url)
    server: Server | None = None
    created = False
    try:
        keys = r.dbsize()
        if keys:
            log(f"{args.redis_url} held {keys} keys: flushing it (the benchmark's own db index)")
        r.flushdb()
        sql(args.pg_url, f'CREATE DATABASE "{dbname}"')
        created = True
        needed = (
            (0 if args.no_baseline else int(args.rate * args.duration) + 60)
            + int(args.rate * args.duration) + 200  # warm-up of 1,000 may take a few rounds
            + (int(args.rate * args.duration) if args.profile else 0)
            + (max(500, args.burst_concurrency * 25 * int(args.burst_duration)) if args.burst_duration > 0 else 0)
        )  # fmt: skip
        log(f"database {dbname}: migrating, seeding {needed} REDEEMED redemptions")
        seeded = asyncio.run(seed(db_url, needed))
        server = Server(args, db_url, workdir)
        server.start()
        log(f"API process {server.pid} on port {server.port} ({' '.join(server.cmd[1:])})")
        phases, profile = asyncio.run(measure(args, server, seeded, workdir))
        report(args, phases)
        if profile:
            print()
            print(f"py-spy of the API process during a paced run, {args.subscribers} subscribers:")
            for line in profile:
                print(f"  {line}")
    finally:
        kill_leftover_clients()
        if server is not None:
            server.stop()
        if created and not args.keep_db:
            sql(args.pg_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            log(f"dropped {dbname}")
        elif created:
            log(f"kept database {dbname}")
        try:
            r.flushdb()
            r.close()
        except redis.RedisError as exc:
            log(f"could not FLUSHDB {args.redis_url}: {exc}")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
