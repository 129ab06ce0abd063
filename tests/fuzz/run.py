"""The bounded fuzz run of CI: schemathesis against a real engine, once per credential.

    .venv/bin/python -m tests.fuzz.run [--examples N] [--workers N] [--seed N]

Starts `gamify serve --no-worker` on a free port with a temporary GAMIFY_DATA_DIR,
the embedded SQLite and Redis (with DATABASE_URL, a PostgreSQL server: a throwaway
database is made in it and dropped afterwards), creates a tenant with `gamify tenant
create` and gives it data over GraphQL (an API key, a member with points and a member
token, a reward, a redemption). Then it runs schemathesis against /graphql for every
operation, once with no credential, a member token, the API key and the admin JWT (the
admin last: its mutations may archive and revoke what the others use), with the check
`coded_errors` of tests/fuzz/hooks.py. It prints the operations and cases per credential
and the failures grouped by cause, with an example each, and exits 1 on any failure.

The engine's log, the calls with problems (JSON lines) and schemathesis' output are kept
in --out (default artifacts/fuzz) for triage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0
# Per credential: a hung run fails the step instead of CI's whole budget.
RUN_TIMEOUT = 120.0
ADMIN_EMAIL = "admin@fuzz.test"
CREDENTIALS = ("none", "member", "apikey", "admin")
# Rate limits would answer the fuzzer's volume with 429s instead of exercising the API.
UNLIMITED = str(10**9)
RATE_LIMIT_SETTINGS = (
    "GAMIFY_RATE_LIMIT_PER_CREDENTIAL",
    "GAMIFY_RATE_LIMIT_PER_ADDRESS",
    "GAMIFY_RATE_LIMIT_ANONYMOUS",
    "GAMIFY_LOGIN_ATTEMPTS_PER_ACCOUNT",
    "GAMIFY_LOGIN_ATTEMPTS_PER_ADDRESS",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--examples", type=int, default=15, help="cases per operation")
    parser.add_argument("--workers", type=int, default=2, help="schemathesis workers")
    parser.add_argument(
        "--seed", type=int, default=1, help="generation seed (+1 per credential): reproducible"
    )
    parser.add_argument("--phases", default="fuzzing", help="schemathesis phases")
    parser.add_argument("--mode", default="all", help="positive, negative or all")
    parser.add_argument(
        "--credentials", default=",".join(CREDENTIALS), help="some of " + ",".join(CREDENTIALS)
    )
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "fuzz")
    parser.add_argument(
        "--engine-src",
        type=Path,
        default=ROOT,
        help="run the engine of another checkout (e.g. `git archive` of an older commit)",
    )
    args = parser.parse_args(argv)
    credentials = [name for name in args.credentials.split(",") if name]
    if unknown := set(credentials) - set(CREDENTIALS):
        parser.error(f"unknown credentials: {', '.join(sorted(unknown))}")

    args.out = args.out.resolve()  # schemathesis runs in it, and is given paths in it
    args.out.mkdir(parents=True, exist_ok=True)
    for old in [*args.out.glob("*.jsonl"), *args.out.glob("*.schemathesis.txt")]:
        old.unlink()  # the records are appended to
    # `timeout` in CI ends a run with SIGTERM: leave through the `finally`s, which stop the
    # engine (and subprocess.run its schemathesis) instead of orphaning them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with Engine.started(args.out, args.engine_src.resolve()) as engine:
        tenant = seed_tenant(engine)
        config = fuzz_config(tenant, args.out / "schemathesis.toml")
        print(f"engine {engine.url} ({engine.backend}) ready in {time.monotonic() - started:.0f} s")
        results = [
            fuzz(engine.url, name, tenant.tokens.get(name), config, args, args.seed + index)
            for index, name in enumerate(credentials)
        ]
    report = summarise(results, time.monotonic() - started, engine.log_path)
    print(report)
    (args.out / "summary.txt").write_text(report + "\n")
    return 1 if any(r.failed for r in results) else 0


# ------------------------------------------------------------------ the engine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Engine:
    url: str
    env: dict[str, str]
    src: Path
    admin_password: str
    log_path: Path
    backend: str

    @classmethod
    @contextlib.contextmanager
    def started(cls, out: Path, src: Path) -> Iterator[Engine]:
        port = _free_port()
        server_url = os.environ.get("DATABASE_URL")
        with tempfile.TemporaryDirectory(prefix="gamify-fuzz-") as data_dir:
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "REDIS_URL", "GAMIFY_SECRET_KEY")
            }
            env.update(
                GAMIFY_DATA_DIR=data_dir,
                GAMIFY_HOST="127.0.0.1",
                GAMIFY_PORT=str(port),
                GAMIFY_SECRET_KEY=secrets.token_urlsafe(48),
                GAMIFY_GRAPHIQL="0",
                PYTHONPATH=str(src),
                **dict.fromkeys(RATE_LIMIT_SETTINGS, UNLIMITED),
            )
            with _throwaway_database(server_url) as database_url:
                if database_url:
                    env["DATABASE_URL"] = database_url
                engine = cls(
                    url=f"http://127.0.0.1:{port}",
                    env=env,
                    src=src,
                    admin_password=secrets.token_urlsafe(18),
                    log_path=out / "engine.log",
                    backend="PostgreSQL" if database_url else "SQLite",
                )
                engine._gamify("migrate")
                engine._gamify(
                    "tenant", "create", "--name", "Fuzz", "--slug", "fuzz",
                    "--admin-email", ADMIN_EMAIL, "--admin-password", engine.admin_password,
                )  # fmt: skip
                with open(engine.log_path, "w") as log, engine._serving(log):
                    yield engine

    def _gamify(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "engine.cli", *args],
            env=self.env,
            cwd=self.src,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
        if done.returncode != 0:
            raise SystemExit(f"gamify {' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")

    @contextlib.contextmanager
    def _serving(self, log: TextIO) -> Iterator[None]:
        process = subprocess.Popen(
            # No worker: the fuzzer saves webhook and points-log URLs of its own making, and
            # the worker would send to them; the API's answers are what is under test.
            [sys.executable, "-m", "engine.cli", "serve", "--no-worker"],
            env=self.env,
            cwd=self.src,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _answers(f"{self.url}/health"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gamify serve did not start; see {self.log_path}")
                time.sleep(0.2)
            yield
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def _throwaway_database(server_url: str | None) -> Iterator[str | None]:
    """A new database on the PostgreSQL server of `server_url`, dropped afterwards."""
    if not server_url:
        yield None
        return
    import asyncpg

    name = f"gamify_fuzz_{uuid.uuid4().hex[:10]}"
    admin_url = server_url.replace("postgres://", "postgresql://", 1)

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        parts = urlsplit(server_url.replace("postgresql://", "postgres://", 1))
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ------------------------------------------------------------------ the tenant's data


def _call(url: str, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30,
    )
    body: dict[str, Any] = answer.json()
    if body.get("errors"):
        raise SystemExit(f"seeding failed: {query.split('(')[0]}: {body['errors']}")
    data: dict[str, Any] = next(iter(body["data"].values()))
    if data.get("errors"):
        raise SystemExit(f"seeding failed: {query.split('(')[0]}: {data['errors']}")
    return data


LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }"
CREATE_KEY = 'mutation { createApiKey(name: "fuzz") { key apiKey { id } errors { code } } }'
SAVE_TIER = 'mutation { saveTier(input: {name: "Gold", rank: 1}) { tier { id } errors { code } } }'
UPSERT_MEMBER = (
    'mutation($t: ID) { upsertMember(input: {externalUserId: "fuzz-1", email: "m@fuzz.test",'
    ' name: "Fuzz Member", tierId: $t}) { member { id } errors { code } } }'
)
AWARD = (
    'mutation { awardPoints(input: {externalUserId: "fuzz-1", amount: 5000, source: PURCHASE,'
    ' description: "seed"}) { entry { id } account { pointDefinition { id } } errors { code } } }'
)
MEMBER_TOKEN = 'mutation { createMemberToken(externalUserId: "fuzz-1") { token errors { code } } }'
CREATE_REWARD = (
    'mutation { createReward(input: {name: "Mug", type: GIFT, value: "1 mug", pointCost: 10,'
    " enabled: true}) { reward { id } errors { code } } }"
)
REDEEM = "mutation($r: ID!) { redeemReward(rewardId: $r) { redemption { id } errors { code } } }"


@dataclass
class Tenant:
    """The credentials of each kind, and the ids of the data seeded for them to find."""

    tokens: dict[str, str]
    ids: dict[str, str]
    external_user_id: str = "fuzz-1"


def seed_tenant(engine: Engine) -> Tenant:
    url = engine.url
    admin = _call(url, None, LOGIN, e=ADMIN_EMAIL, p=engine.admin_password)["token"]
    created = _call(url, admin, CREATE_KEY)
    key = created["key"]
    tier = _call(url, admin, SAVE_TIER)["tier"]["id"]
    member = _call(url, key, UPSERT_MEMBER, t=tier)["member"]["id"]
    award = _call(url, key, AWARD)
    member_token = _call(url, key, MEMBER_TOKEN)["token"]
    reward = _call(url, admin, CREATE_REWARD)["reward"]["id"]
    redemption = _call(url, member_token, REDEEM, r=reward)["redemption"]["id"]
    return Tenant(
        tokens={"admin": admin, "apikey": key, "member": member_token},
        ids={
            "apiKeyId": created["apiKey"]["id"],
            "tierId": tier,
            "memberId": member,
            "ledgerEntryId": award["entry"]["id"],
            "pointDefinitionId": award["account"]["pointDefinition"]["id"],
            "rewardId": reward,
            "redemptionId": redemption,
        },
    )


def fuzz_config(tenant: Tenant, path: Path) -> Path:
    """A schemathesis config that feeds the seeded ids and the member's external id to the
    arguments of those names (`id` takes any of them), half of the time: most generated
    ids are otherwise random strings, which only ever reach NOT_FOUND."""
    ids = list(tenant.ids.values())
    lines = [
        f"[dictionaries.ids]\nvalues = {json.dumps(ids)}",
        f"[dictionaries.external]\nvalues = {json.dumps([tenant.external_user_id])}",
        "[parameters]",
    ]
    bindings = {name: "ids" for name in (*tenant.ids, "id", "endpointId")}
    bindings["externalUserId"] = "external"
    bindings["contactId"] = "external"
    for name, dictionary in bindings.items():
        for where in (f"*.*.{name}", f"*.*.input.{name}", f"*.*.filter.{name}"):
            lines.append(f'"{where}" = {{ dictionary = "{dictionary}", probability = 0.5 }}')
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ schemathesis


@dataclass
class Result:
    credential: str
    seconds: float
    exit_code: int
    calls: list[dict[str, Any]] = field(default_factory=list)
    output_tail: str = ""
    engine_answers: bool = True  # /health after the run: a crashed engine fails it

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["problems"]]

    @property
    def failed(self) -> bool:
        # schemathesis exits 1 on our check's failures (and on network errors, which a
        # dead engine would cause: /health tells); other codes, or none, when it could not run.
        return (
            bool(self.failures)
            or not self.engine_answers
            or self.exit_code not in (0, 1)
            or not self.calls
        )


def fuzz(
    url: str, credential: str, token: str | None, config: Path, args: Any, seed: int
) -> Result:
    out: Path = args.out
    record = out / f"{credential}.jsonl"
    command = [
        str(BIN / "schemathesis"), "--config-file", str(config), "run", f"{url}/graphql",
        "--checks", "coded_errors",
        "--max-examples", str(args.examples),
        "--workers", str(args.workers),
        "--phases", args.phases,
        "--mode", args.mode,
        "--seed", str(seed),
        "--no-shrink",
        "--continue-on-failure",
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--request-timeout", "30",
        "--no-color",
    ]  # fmt: skip
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="tests.fuzz.hooks",
        FUZZ_RECORD=str(record),
        PYTHONPATH=str(ROOT),
    )
    record.touch()
    started = time.monotonic()
    output = out / f"{credential}.schemathesis.txt"
    with open(output, "w") as sink:
        try:
            code = subprocess.run(
                command,
                env=env,
                cwd=out,  # where schemathesis keeps its .schemathesis/ cache
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
            sink.write(f"\nstopped after {RUN_TIMEOUT:.0f} s\n")
    result = Result(credential, time.monotonic() - started, code)
    result.calls = [json.loads(line) for line in record.read_text().splitlines() if line]
    result.output_tail = "\n".join(output.read_text().splitlines()[-15:])
    result.engine_answers = _answers(f"{url}/health")
    print(
        f"  {credential:>7}: {len(result.calls)} cases, {len(result.failures)} failing,"
        f" {result.seconds:.0f} s",
        flush=True,
    )
    return result


# ------------------------------------------------------------------ the summary


def summarise(results: list[Result], seconds: float, log_path: Path) -> str:
    lines = ["", "==== fuzz summary ===="]
    causes: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, dict[str, Any]] = {}
    for result in results:
        operations = {call["operation"] for call in result.calls}
        answered = sum(1 for call in result.calls if call["status"] == 200 and not call["codes"])
        codes = Counter(code for call in result.calls for code in call["codes"])
        # A refused request (429 from a rate limit, 413, 400) is no failure, but many of them
        # mean the cases never reached the API: shown so a reader sees it.
        codes.update(f"HTTP {c['status']}" for c in result.calls if c["status"] != 200)
        lines.append(
            f"{result.credential:>7}: {len(operations)} operations, {len(result.calls)} cases,"
            f" {len(result.failures)} failing, {result.seconds:.0f} s"
            + (f" (schemathesis exit {result.exit_code})" if result.exit_code not in (0, 1) else "")
        )
        lines.append(
            f"         {answered} answered without error; error codes: "
            + ", ".join(f"{code} {n}" for code, n in codes.most_common(8))
        )
        if not result.engine_answers:
            lines.append("  the engine no longer answers /health: see its log")
        if result.exit_code not in (0, 1) or not result.calls:
            lines.append(f"  schemathesis did not run through:\n{result.output_tail}")
        for call in result.failures:
            for cause in call["problems"]:
                causes[cause][f"{result.credential} {call['operation']}"] += 1
                examples.setdefault(cause, call | {"credential": result.credential})
    total_failures = sum(len(r.failures) for r in results)
    lines.append(
        f"total: {sum(len(r.calls) for r in results)} cases, {total_failures} failing,"
        f" {seconds:.0f} s"
    )
    for cause, where in sorted(causes.items(), key=lambda item: -sum(item[1].values())):
        example = examples[cause]
        lines += [
            "",
            f"{sum(where.values())}x {cause}",
            "   in: " + ", ".join(f"{op} ({n})" for op, n in where.most_common(8)),
            f"   e.g. ({example['credential']}) {_printable(example['query'][:400])}",
            f"   answer: {_printable(example['answer'][:300])}",
        ]
    if exceptions := _engine_exceptions(log_path):
        lines += ["", f"exceptions in the engine's log ({log_path}):"]
        lines += [f"{n:>6}x {line}" for line, n in exceptions.most_common(15)]
    return "\n".join(lines)


def _printable(text: str) -> str:
    """Control characters (a fuzzed NUL) escaped, so the summary stays text in a CI log."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def _engine_exceptions(log_path: Path) -> Counter[str]:
    """The last line of each traceback in the engine's log (`Module.Error: message`), cut
    short: a message can quote a fuzzed 70 KB string."""
    found: Counter[str] = Counter()
    if not log_path.exists():
        return found
    with open(log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            if re.match(r"[A-Za-z_][\w.]*(Error|Exception)(: |$)", line):
                found[_printable(line.strip()[:160])] += 1
    return found


if __name__ == "__main__":
    sys.exit(main())
