"""Which webhook targets the engine may connect to.

A URL is checked when saved and again at delivery, on the address actually connected to
(so DNS rebinding cannot point a saved name at an internal service later).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedAddress(InvalidInput):
    default_code = "BLOCKED_ADDRESS"


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return is_public(embedded)
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return address.is_global and not address.is_multicast


def parse_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL without credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("Use an http(s) URL", field="url", code="INVALID_URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("URLs with credentials are not allowed", field="url", code="INVALID_URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidInput("Invalid port", field="url", code="INVALID_URL") from exc
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
        raise InvalidInput(f"Cannot resolve {host}", field="url", code="UNRESOLVABLE") from exc
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
