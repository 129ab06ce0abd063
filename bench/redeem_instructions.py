#!/usr/bin/env python
"""Instructions the engine's Python process runs per redemption, counted by callgrind.

On a shared machine CPU time per request swings by a third from one hour to the next; the
number of instructions does not. This runs redemptions in-process (the whole ASGI app:
middleware, GraphQL, resolvers, PostgreSQL and Redis over their sockets; no HTTP server)
under `valgrind --tool=callgrind`, once with `--base` requests and once with `--base` +
`--requests`: the difference divided by `--requests` is the count per redemption, without
the start-up. With `--ref` it measures that git revision too, in the same run, and prints
the ratio.

    . .venv/bin/activate
    python bench/redeem_instructions.py                  # this checkout (~3 minutes)
    python bench/redeem_instructions.py --ref HEAD~3     # and HEAD~3, with the ratio

Needs valgrind (Debian package) and a PostgreSQL server (`--pg-url`) whose role may
CREATE DATABASE. Each request redeems the distinct scenario's way (bench/redeem.py), one at a
time, with Redis (a throw-away redis-server) as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WARM_UP = 20
REWARDS = 64


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--requests", type=int, default=200, help="requests counted")
    parser.add_argument("--base", type=int, default=50, help="requests of the base run")
    parser.add_argument("--ref", help="also measure this git revision (a worktree of it)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


# ---------------------------------------------------------------------------- child


async def child(requests: int, bodies: Iterator[bytes]) -> None:
    """In the checkout to measure (cwd): `requests` redemptions after a warm-up."""
    sys.path.insert(0, os.getcwd())  # the checkout's engine, not this file's
    from core.settings import load_settings
    from engine.app import create_app

    app = create_app(load_settings())
    api_key = os.environ["BENCH_API_KEY"].encode()

    async def redeem_one() -> None:
        body = next(bodies)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
            "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5555),
            "server": ("127.0.0.1", 80),
            "headers": [
                (b"host", b"bench"), (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", b"Bearer " + api_key),
            ],
        }  # fmt: skip
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never goes away
            raise AssertionError

        answer: list[bytes] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body":
                answer.append(message.get("body", b""))

        await app(scope, receive, send)
        if b'"REDEEMED"' not in b"".join(answer):
            raise SystemExit(f"redeem failed: {b''.join(answer)[:500]!r}")

    async with app.router.lifespan_context(app):
        for _ in range(WARM_UP):  # caches, prepared statements, the pool's connection
            await redeem_one()
        for _ in range(requests):
            await redeem_one()


# ---------------------------------------------------------------------------- driver


def instructions(checkout: Path, requests: int, env: dict[str, str]) -> int:
    out = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, str(BENCH / "redeem_instructions.py"), "--child", str(requests),
        ],
        cwd=checkout, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or found is None:
        raise SystemExit(f"the run in {checkout} failed:\n{out.stdout[-2000:]}{out.stderr[-3000:]}")
    return int(found.group(1))


def measure(
    checkouts: dict[str, Path], args: argparse.Namespace, env: dict[str, str], workdir: Path
) -> dict[str, float]:
    """Instructions per redemption in each checkout: two runs under callgrind each, each
    run with redemptions of its own (no member redeems twice), two runs at a time."""
    bodies = _bodies(args.members)
    runs: list[tuple[str, Path, int, dict[str, str]]] = []
    for name, checkout in checkouts.items():
        for requests in (args.base, args.base + args.requests):
            path = workdir / f"bodies-{len(runs)}"
            path.write_bytes(b"\n".join(next(bodies) for _ in range(WARM_UP + requests)))
            runs.append((name, checkout, requests, env | {"BENCH_BODIES": str(path)}))
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = list(pool.map(lambda run: instructions(*run[1:]), runs))
    per_request = {}
    for n, name in enumerate(checkouts):
        per_request[name] = (counts[2 * n + 1] - counts[2 * n]) / args.requests
    return per_request


def _bodies(members: int) -> Iterator[bytes]:
    """The distinct scenario's requests: member n redeems reward n % REWARDS."""
    from redeem import KIND_MEMBER, KIND_REWARD, QUERY, bench_uuid

    for n in range(members):
        variables = {
            "r": str(bench_uuid(KIND_REWARD, 1 + n % REWARDS)),
            "m": str(bench_uuid(KIND_MEMBER, 1 + n)),
        }
        yield json.dumps({"query": QUERY, "variables": variables}).encode()


def main() -> None:
    args = parse_args()
    if args.child is not None:
        bodies = Path(os.environ["BENCH_BODIES"]).read_bytes().splitlines()
        asyncio.run(child(args.child, iter(bodies)))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing: apt-get install -y valgrind")
    sys.path.insert(0, str(ROOT))
    from measure import log
    from redeem import RedisServer, seed, sql

    workdir = Path(tempfile.mkdtemp(prefix="gamify-instr-"))
    dbname = f"gamify_bench_{secrets.token_hex(5)}"
    worktree = workdir / "ref"
    redis = None
    created = False
    try:
        sql(args.pg_url, f'CREATE DATABASE "{dbname}"')
        created = True
        args.members = 4 * (args.base + args.requests + WARM_UP)  # one redemption each
        log(f"database {dbname}: migrating, seeding {args.members} members, {REWARDS} rewards")
        seeded = asyncio.run(
            seed(argparse.Namespace(members=args.members, rewards=REWARDS), args.pg_url, dbname)
        )
        redis = RedisServer(workdir)
        env = os.environ | {
            "DATABASE_URL": seeded.url, "REDIS_URL": redis.url,
            "GAMIFY_SECRET_KEY": secrets.token_urlsafe(48), "GAMIFY_DATA_DIR": str(workdir / "data"),
            "GAMIFY_DB_POOL_SIZE": "4", "BENCH_API_KEY": seeded.api_key,
        }  # fmt: skip
        checkouts = {"this checkout": ROOT}
        if args.ref:
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(worktree), args.ref],
                cwd=ROOT,
                check=True,
            )
            checkouts[args.ref] = worktree
        started = time.monotonic()
        log(f"{', '.join(checkouts)}: {args.base} and {args.base + args.requests} redemptions each")
        per_request = measure(checkouts, args, env, workdir)
        log(f"measured in {time.monotonic() - started:.0f} s")
        print(
            "\ninstructions of the engine's process per redemption (callgrind, in-process, Redis on):"
        )
        for name, count in per_request.items():
            print(f"  {name:15s} {count / 1e6:7.2f} M")
        if args.ref:
            ratio = per_request["this checkout"] / per_request[args.ref]
            print(f"  ratio this checkout / {args.ref}: {ratio:.3f}")
    finally:
        if redis is not None:
            redis.stop()
        if worktree.exists():
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
            )
        if created:
            sql(args.pg_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            log(f"dropped {dbname}")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
