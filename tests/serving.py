"""Servers the tests start on 127.0.0.1: a free port, and an ASGI app under uvicorn in
this process (the engine, a webhook receiver, a fake point master)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 10.0  # seconds; a server that never starts fails the test
PROCESS_START_TIMEOUT = 60.0  # an engine process migrates first, on a loaded machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def uvicorn_serving(app: ASGIApp, **config: Any) -> AsyncIterator[str]:
    """`app` served on a free port of 127.0.0.1 until exit; yields its http:// URL."""
    config.setdefault("log_level", "warning")
    config.setdefault("lifespan", "off")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **config))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                    raise AssertionError("uvicorn stopped before starting")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task


async def until_healthy(
    url: str, process: subprocess.Popen[Any], output: Callable[[], str]
) -> None:
    """Wait for an engine child process to answer `GET /health` (its migrations ran, its
    lifespan started); fail with its output if it exits or never answers."""
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        try:
            async with asyncio.timeout(PROCESS_START_TIMEOUT):
                while True:
                    if process.poll() is not None:
                        raise AssertionError(f"{url} exited early:\n{output()}")
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get(f"{url}/health")).status_code == 200:
                            return
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"{url} did not answer in time:\n{output()}") from None


def stop_process(process: subprocess.Popen[Any], *, kill: bool = False, grace: float = 30) -> None:
    """SIGTERM (SIGKILL with `kill`), then SIGKILL if it is still there after `grace` s."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
