"""`gamify serve` with the embedded default: SQLite file, own redis-server, demo tenant.

This test is about the embedded default, so it runs it on every backend run of the suite
(DATABASE_URL and REDIS_URL are removed from the child's environment).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from tests.serving import free_port, stop_process

GAMIFY = Path(sys.executable).with_name("gamify")
START_TIMEOUT = 60.0
API_KEY = re.compile(r"\bgk_[A-Za-z0-9_-]{20,}")


@dataclass
class Engine:
    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def redis_servers(self) -> list[psutil.Process]:
        children = psutil.Process(self.process.pid).children(recursive=True)
        return [child for child in children if "redis-server" in child.name()]


def _environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "GAMIFY_SECRET_KEY")
    }
    env.update(GAMIFY_DATA_DIR=str(data_dir), GAMIFY_HOST="127.0.0.1", GAMIFY_PORT=str(port))
    return env


def _wait_until_answering(engine: Engine) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            raise AssertionError(f"gamify serve exited early:\n{engine.output}")
        try:
            if _typename(engine).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"gamify serve did not answer in {START_TIMEOUT:g} s:\n{engine.output}")


def _typename(engine: Engine) -> httpx.Response:
    return httpx.post(f"{engine.url}/graphql", json={"query": "{ __typename }"}, timeout=5)


@contextmanager
def _gamify_serve(data_dir: Path) -> Iterator[Engine]:
    """A running `gamify serve`; stopped with SIGTERM (asserted clean) on exit."""
    port = free_port()
    process = subprocess.Popen(
        [str(GAMIFY), "serve"],
        env=_environment(data_dir, port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    engine = Engine(process, f"http://127.0.0.1:{port}")
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: engine.lines.extend(stdout), daemon=True)
    reader.start()
    try:
        _wait_until_answering(engine)
        yield engine
    finally:
        stop_process(process)
        reader.join(timeout=5)
        stdout.close()


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_serve_embedded_default(tmp_path: Path) -> None:
    # given a fresh data directory and no DATABASE_URL / REDIS_URL
    data_dir = tmp_path / "data"

    # when gamify serve starts for the first time
    with _gamify_serve(data_dir) as first:
        response = _typename(first)
        redis_servers = first.redis_servers()
        first.process.send_signal(signal.SIGTERM)
        first.process.wait(timeout=30)

    # then it printed the demo login and an API key, answered GraphQL, and stopped cleanly
    assert "admin@demo.local" in first.output
    assert API_KEY.search(first.output), first.output
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    assert first.process.returncode == 0, first.output
    assert len(redis_servers) == 1
    assert _gone(redis_servers[0])
    assert (data_dir / "gamify.sqlite3").exists()

    # when it starts a second time on the same data directory
    with _gamify_serve(data_dir) as second:
        assert _typename(second).status_code == 200
        second_redis = second.redis_servers()

    # then no new credentials are printed and it stops cleanly again
    assert "admin@demo.local" not in second.output
    assert not API_KEY.search(second.output), second.output
    assert second.process.returncode == 0, second.output
    assert len(second_redis) == 1 and _gone(second_redis[0])
