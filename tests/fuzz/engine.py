"""The engine a fuzz run attacks: `gamify serve --no-worker` on a free port with a data
directory of its own (the embedded SQLite and Redis, or a throwaway PostgreSQL database on
the server DATABASE_URL names), its tenant made with `gamify tenant create`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

import httpx

START_TIMEOUT = 60.0
ADMIN_EMAIL = "admin@fuzz.test"
# Rate limits would answer the fuzzer's volume with 429s instead of exercising the API.
UNLIMITED = str(10**9)
RATE_LIMIT_SETTINGS = (
    "GAMIFY_RATE_LIMIT_PER_CREDENTIAL",
    "GAMIFY_RATE_LIMIT_PER_ADDRESS",
    "GAMIFY_LOGIN_FAILURES_PER_ACCOUNT",
    "GAMIFY_LOGIN_FAILURES_PER_ADDRESS",
)


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
    def started(cls, out: Path, src: Path, *, worker: bool = False) -> Iterator[Engine]:
        """With `worker`, `gamify serve` runs its worker too (it sends webhooks)."""
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
                    # `=`: a generated password may start with "-" (argparse took it for
                    # an option once in 64 runs)
                    "--admin-email", ADMIN_EMAIL, f"--admin-password={engine.admin_password}",
                )  # fmt: skip
                with open(engine.log_path, "w") as log, engine._serving(log, worker):
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
    def _serving(self, log: TextIO, worker: bool) -> Iterator[None]:
        process = subprocess.Popen(
            # No worker by default: the GraphQL fuzzer saves webhook and points-log URLs of
            # its own making, and the worker would send to them.
            [sys.executable, "-m", "engine.cli", "serve", *([] if worker else ["--no-worker"])],
            env=self.env,
            cwd=self.src,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not answers(f"{self.url}/health"):
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


def answers(url: str) -> bool:
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
