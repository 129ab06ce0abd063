"""One webhook POST: to the address that passed the SSRF check, without redirects."""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from ipaddress import IPv6Address

import httpx

from core import clock
from core.errors import InvalidInput
from core.ssrf import checked_addresses, parse_target
from models.outbox import RESPONSE_LIMIT, AttemptResult

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
        verify=_tls_context(),
        timeout=httpx.Timeout(timeout, connect=5.0),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        headers={"User-Agent": USER_AGENT},
    )


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
        scheme, host, port = parse_target(url)
        address = (await checked_addresses(url, allow_private))[0]
    except InvalidInput as exc:
        return AttemptResult(None, elapsed(), "", exc.message)
    # Connect to the checked address itself; Host and TLS still name the original host.
    literal = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
    target = httpx.URL(url).copy_with(host=literal.strip("[]"), port=port)
    default_port = 443 if scheme == "https" else 80
    request_headers = {
        **headers,
        "Content-Type": "application/json",
        "Host": host if port == default_port else f"{host}:{port}",
    }
    extensions = {"sni_hostname": host} if scheme == "https" else {}
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
                text = received[:RESPONSE_LIMIT].decode("utf-8", errors="replace")
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
