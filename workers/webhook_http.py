"""One webhook POST: to the address that passed the SSRF check, without redirects."""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core import clock
from core.errors import InvalidInput
from core.ssrf import IPAddress, checked_addresses, parse_target
from models.webhooks.outbox import RESPONSE_LIMIT, AttemptResult
from workers.http_shards import ShardedTransport

MAX_RETRY_AFTER = timedelta(hours=24)
USER_AGENT = "GamifyEngine-Webhooks/1"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle takes ~30 ms of CPU: once per process, not once per client."""
    return httpx.create_ssl_context()


def new_client(timeout: float = 10.0) -> httpx.AsyncClient:
    """The worker's one shared client: bounded time, no redirects, pooled connections.

    `timeout` bounds each read and, in `post`, the whole exchange."""
    return httpx.AsyncClient(
        transport=ShardedTransport(_tls_context(), httpx.Limits(max_connections=200)),
        timeout=httpx.Timeout(timeout, connect=5.0),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        # No proxy from the environment: the SSRF check is on the address connected to.
        trust_env=False,
    )


@functools.lru_cache(maxsize=4096)
def _route(url: str, address: IPAddress) -> tuple[httpx.URL, str, dict[str, Any]]:
    """Where to connect for `url` once `address` passed the check: the URL with the address
    as its host, the Host header, and the TLS server name (parsing a URL costs more than
    the rest of the request's bookkeeping, and a worker sends to few URLs)."""
    scheme, host, port = parse_target(url)
    literal = str(address)
    target = httpx.URL(url).copy_with(host=literal, port=port)
    default_port = 443 if scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    return target, host_header, ({"sni_hostname": host} if scheme == "https" else {})


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    try:
        delay = timedelta(seconds=max(0, int(value.strip())))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = max(timedelta(0), when - clock.now())
    return min(delay, MAX_RETRY_AFTER)


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
) -> AttemptResult:
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        address = (await checked_addresses(url, allow_private))[0]
    except InvalidInput as exc:
        return AttemptResult(None, elapsed(), "", exc.message)
    # Connect to the checked address itself; Host and TLS still name the original host.
    target, host_header, extensions = _route(url, address)
    request_headers = {**headers, "Content-Type": "application/json", "Host": host_header}
    try:
        # httpx times each read, not the whole exchange: a receiver dripping its answer
        # a byte at a time would hold the attempt past the lease, and another worker
        # would send the same delivery alongside it.
        async with asyncio.timeout(client.timeout.read):
            async with client.stream(
                "POST", target, content=body, headers=request_headers, extensions=extensions
            ) as response:
                received = b""
                async for chunk in response.aiter_bytes():
                    received += chunk
                    if len(received) >= RESPONSE_LIMIT:
                        break
                # PostgreSQL text and jsonb cannot hold NUL: a receiver's stray one would
                # make the attempt unrecordable, and the delivery would be sent forever.
                text = received[:RESPONSE_LIMIT].decode("utf-8", errors="replace")
                text = text.replace("\x00", "\ufffd")
                retry_after = (
                    _retry_after(response.headers.get("retry-after"))
                    if response.status_code in (429, 503)
                    else None
                )
                error = (
                    f"Redirect to {response.headers.get('location', '?')} not followed"
                    if 300 <= response.status_code < 400
                    else None
                )
                return AttemptResult(response.status_code, elapsed(), text, error, retry_after)
    except (httpx.TimeoutException, TimeoutError):
        return AttemptResult(None, elapsed(), "", "Timed out")
    except httpx.HTTPError as exc:
        return AttemptResult(None, elapsed(), "", f"{type(exc).__name__}: {exc}"[:500])
