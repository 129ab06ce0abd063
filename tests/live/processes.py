"""`gamify serve` / `gamify worker` child processes for the multi-process live tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import redis

from tests.serving import free_port, stop_process, until_healthy

GAMIFY = Path(sys.executable).with_name("gamify")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
CLAIM_KEY = "gamify:tests:live:claim"


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    url: str = ""  # http://127.0.0.1:<port> for `serve`
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/graphql"


def with_db_index(url: str, index: int) -> str:
    """The same Redis server, another database: `redis://h:p/<n>` or `unix://...?db=<n>`."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = parse_qs(parts.query)
        query["db"] = [str(index)]
        # urlunsplit drops the empty authority of unix:///path (unix is no netloc scheme)
        return f"unix://{parts.path}?{urlencode(query, doseq=True)}"
    return urlunsplit(parts._replace(path=f"/{index}"))


@contextlib.contextmanager
def claimed_redis_database(url: str, candidates: range = range(6, 16)) -> Iterator[str]:
    """A Redis database of its own for this test's arq queue (pub/sub channels are server-wide
    and named per tenant). Other runs sharing the server claim theirs the same way."""
    token = uuid.uuid4().hex
    for index in candidates:
        candidate = with_db_index(url, index)
        client = redis.Redis.from_url(candidate)
        try:
            if client.set(CLAIM_KEY, token, nx=True, ex=600):
                try:
                    yield candidate
                finally:
                    if client.get(CLAIM_KEY) == token.encode():
                        client.delete(CLAIM_KEY)
                return
        finally:
            client.close()
    raise AssertionError(f"no free Redis database among {list(candidates)}")


def _start(name: str, args: list[str], env: dict[str, str], url: str = "") -> Child:
    process = subprocess.Popen(
        [str(GAMIFY), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    child = Child(name, process, url)
    stdout = process.stdout
    assert stdout is not None
    child.reader = threading.Thread(target=lambda: child.lines.extend(stdout), daemon=True)
    child.reader.start()
    return child


async def _until_answering(child: Child) -> None:
    await until_healthy(child.url, child.process, lambda: child.output)


async def _until_said(child: Child, text: str) -> None:
    async with asyncio.timeout(START_TIMEOUT):
        while text not in child.output:
            if child.process.poll() is not None:
                raise AssertionError(f"{child.name} exited early:\n{child.output}")
            await asyncio.sleep(0.1)


def _stop(child: Child) -> None:
    stop_process(child.process, grace=STOP_TIMEOUT)
    if child.reader is not None:
        child.reader.join(timeout=5)
    if child.process.stdout is not None:
        child.process.stdout.close()


def engine_environment(
    database_url: str, redis_url: str, secret_key: str, data_dir: Path, **settings: str
) -> dict[str, str]:
    """What `gamify serve` and `gamify worker` children need: the test database, a Redis
    database of their own, the test's secret key (tokens made here are valid there), and
    a small pool each (several processes share PostgreSQL's connections)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GAMIFY_SECRET_KEY": secret_key,
        "GAMIFY_DATA_DIR": str(data_dir),
        "GAMIFY_DB_POOL_SIZE": "5",
        **settings,
    }


@contextlib.asynccontextmanager
async def engine_processes(
    servers: int, environment: dict[str, str]
) -> AsyncIterator[tuple[list[Child], Child]]:
    """`servers` x `gamify serve --no-worker` on their own ports, and one `gamify worker`;
    all started, and stopped with SIGTERM on exit."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base.update(environment, GAMIFY_HOST="127.0.0.1")
    children: list[Child] = []
    try:
        apis = []
        for n in range(servers):
            port = free_port()
            env = {**base, "GAMIFY_PORT": str(port)}
            apis.append(
                _start(f"api-{n}", ["serve", "--no-worker"], env, f"http://127.0.0.1:{port}")
            )
        children.extend(apis)
        worker = _start("worker", ["worker"], base)
        children.append(worker)
        await asyncio.gather(*(_until_answering(api) for api in apis))
        await _until_said(worker, "arq worker for")
        yield apis, worker
    finally:
        await asyncio.gather(*(asyncio.to_thread(_stop, child) for child in children))


def outputs(children: list[Child]) -> str:
    return "\n".join(f"--- {c.name} ---\n{c.output}" for c in children)
