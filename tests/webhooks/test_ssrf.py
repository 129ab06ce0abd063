"""Webhook targets on private, loopback, link-local, CGNAT... addresses are refused."""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

import pytest

from core.errors import InvalidInput
from core.ssrf import BlockedAddress, checked_addresses

REFUSED = [
    "http://127.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/hook",
    "http://192.168.1.10/hook",
    "http://172.16.0.5/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[fe80::1]/hook",
    "http://224.0.0.1/hook",
    "http://localhost:8080/hook",  # a name that resolves to 127.0.0.1
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_targets_are_refused(url: str) -> None:
    # when / then
    with pytest.raises(BlockedAddress) as refused:
        await checked_addresses(url, allow_private=False)
    assert refused.value.code == "BLOCKED_ADDRESS" and refused.value.field == "url"


@pytest.mark.parametrize("url", REFUSED)
async def test_private_targets_are_allowed_when_the_deployment_says_so(url: str) -> None:
    # when
    addresses = await checked_addresses(url, allow_private=True)
    # then the engine connects to the address the URL names (or its name resolves to)
    host = urlsplit(url).hostname
    expected = {"127.0.0.1", "::1"} if host == "localhost" else {str(ip_address(host))}
    assert addresses and {str(a) for a in addresses} <= expected, addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://user@127.0.0.1/hook",
        "http://user:pw@example.com/hook",
        "ftp://example.com/x",
        "hook",
    ],
)
async def test_urls_with_credentials_or_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await checked_addresses(url, allow_private=True)
    assert refused.value.code == "INVALID_URL"


async def test_a_public_address_passes() -> None:
    # given a literal public address (no DNS needed on this machine)
    addresses = await checked_addresses("https://93.184.215.14/hook", allow_private=False)
    # then
    assert [str(a) for a in addresses] == ["93.184.215.14"]
