"""GET /metrics: the Prometheus exposition of core.metrics, plus the queue depth read now.

Open to loopback callers only, unless GAMIFY_METRICS_TOKEN is set: then any caller with
`Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from arq.constants import default_queue_name
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
    start_http_server,
)
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.metrics import QUEUE_DEPTH
from core.settings import Settings

log = logging.getLogger(__name__)


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def scrape_allowed(request: Request, token: str | None) -> bool:
    if token is None:
        return _is_loopback(request.client.host if request.client else None)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_processes(directory: Path) -> None:
    """Live gauges of processes that ended (uvicorn restarts a child it finds unresponsive)
    would otherwise count forever."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(directory))


def _registry() -> CollectorRegistry:
    """This process's metrics, or with PROMETHEUS_MULTIPROC_DIR those of every process."""
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not shared:
        return REGISTRY
    _forget_dead_processes(Path(shared))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


async def _read_queue_depth(redis: Any) -> None:
    if redis is None:
        return
    try:
        QUEUE_DEPTH.set(await redis.zcard(default_queue_name))
    except (RedisError, OSError) as exc:
        log.warning("queue depth not read: %s", exc)


def metrics_endpoint(
    settings: Settings, redis: Callable[[], Any]
) -> Callable[[Request], Awaitable[Response]]:
    """`redis()` gives the app's Redis client, or None before the lifespan connected one."""

    async def metrics(request: Request) -> Response:
        if not scrape_allowed(request, settings.metrics_token):
            status = 403 if settings.metrics_token is None else 401
            return JSONResponse({"error": {"code": "FORBIDDEN"}}, status)
        await _read_queue_depth(redis())
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics


def shared_metrics_dir(data_dir: Path) -> Path:
    """An empty directory for PROMETHEUS_MULTIPROC_DIR (values of an earlier run removed)."""
    directory = data_dir / "metrics"
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def serve_worker_metrics(settings: Settings) -> None:
    """`gamify worker` on its own: its metrics at http://GAMIFY_HOST:GAMIFY_WORKER_METRICS_PORT/
    when that port is set (its counters are not in any API process's /metrics)."""
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.host, registry=_registry())
        log.info("worker metrics at %s:%d", settings.host, settings.worker_metrics_port)
