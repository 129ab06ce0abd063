"""What the admin console's browser tests add to tests/browser/conftest.py: a tenant with
its admin, a webhook receiver in its own process (which also plays a point master), and
logging in through the console's form. Run as a script, this module is that receiver:

    python -m tests.browser.admin_fixtures <port>

Each path answers as last told (`POST /__reply/<path>` with {"status": 500, "body": {...}});
`GET /__received/<path>` lists what was POSTed to it; a GET on any other path answers its
reply too (the fake master's points log).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Page

from models.tenancy.access import create_api_key
from tests.browser.conftest import EngineProcess
from tests.factories import PASSWORD, make_tenant
from tests.live.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


# --------------------------------------------------------------------- the tenant


@dataclass
class AdminTenant:
    engine: EngineProcess
    tenant_id: UUID
    admin_email: str
    api_key: str

    async def backend(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call as the tenant's backend (API key): the field's value, without errors."""
        return await self.engine.gql(query, variables, self.api_key)

    async def admin(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call as the tenant's admin (a token from `login`)."""
        login = await self.engine.gql(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }",
            {"e": self.admin_email, "p": PASSWORD},
        )
        return await self.engine.gql(query, variables, login["token"])


@pytest.fixture(name="admin_tenant")
async def admin_tenant_fixture(engine: EngineProcess) -> AdminTenant:
    new = await make_tenant()
    _, key = await create_api_key(new.tenant.id, "shop backend")
    return AdminTenant(engine, new.tenant.id, new.admin.email, key)


async def log_in(page: Page, tenant: AdminTenant, route: str = "dashboard") -> None:
    """Open the console, log in through its form, and go to `route`."""
    await page.goto(f"{tenant.engine.url}/admin/")
    await page.get_by_label("Email").fill(tenant.admin_email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.locator("main h1", has_text="Dashboard").wait_for()
    if route != "dashboard":
        await go(page, route)


async def go(page: Page, route: str) -> None:
    """Another screen, without reloading the page (its live parts stay connected); returns
    once it is drawn and none of its tables is still loading."""
    await page.evaluate("route => { location.hash = '#/' + route; }", route)
    await page.wait_for_function(
        """route => document.querySelector("main").dataset.route === route
            && !document.querySelector('[aria-busy="true"]')""",
        arg=route,
    )


# -------------------------------------------------------------------- the receiver


@dataclass
class Receiver:
    url: str

    def reply(self, path: str, status: int = 200, body: Any = None) -> None:
        httpx.post(f"{self.url}/__reply/{path}", json={"status": status, "body": body}, timeout=5)

    def received(self, path: str) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = httpx.get(f"{self.url}/__received/{path}", timeout=5).json()
        return answer


@pytest.fixture(scope="module", name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    """A real HTTP receiver in its own process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("webhook_receiver.py")), str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, "the receiver exited"
            assert time.monotonic() < deadline, "the receiver did not start"
            try:
                httpx.get(f"{url}/__received/ready", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Receiver(url)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
