"""Which webhook targets the engine may connect to.

A URL is checked when saved and again at delivery, on the address actually connected to
(so DNS rebinding cannot point a saved name at an internal service later).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import ClassVar
from urllib.parse import urlsplit

import httpx

from core.errors import Code, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UrlCode(Code):
    INVALID_URL = "INVALID_URL"
    BLOCKED_ADDRESS = "BLOCKED_ADDRESS"  # resolves to a non-public address
    UNRESOLVABLE = "UNRESOLVABLE"


class BlockedAddress(InvalidInput):
    default_code: ClassVar[Code] = UrlCode.BLOCKED_ADDRESS


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return is_public(embedded)
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return address.is_global and not address.is_multicast


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, field="url", code=UrlCode.INVALID_URL)


def parse_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL without credentials, that httpx can send to.

    `urlsplit` quietly drops CR, LF and tab, and httpx refuses them (and other control
    characters) only when it sends: a URL saved with one would fail every attempt before
    it could be recorded, so it is refused here, where it is saved and sent alike."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c.isspace() for c in url):
        raise _invalid("URLs must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise _invalid(f"Invalid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("Use an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise _invalid("URLs with credentials are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise _invalid("Invalid port") from exc
    return parts.scheme, parts.hostname, port


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(
            f"Cannot resolve {host}", field="url", code=UrlCode.UNRESOLVABLE
        ) from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def checked_addresses(url: str, allow_private: bool) -> list[IPAddress]:
    """The addresses to connect to for `url`; refuses if any is not public (unless allowed)."""
    _, host, port = parse_target(url)
    addresses = await resolve(host, port)
    if not allow_private:
        blocked = [a for a in addresses if not is_public(a)]
        if blocked:
            raise BlockedAddress(
                f"{host} resolves to a non-public address ({blocked[0]})", field="url"
            )
    return addresses
