"""Browser tests: Debian's Chromium driven by Playwright (async API, on the suite's session
event loop) against a real `gamify serve` process on the test database and Redis, with the
pages that embed the front ends served from another origin.

Fixtures for any browser test (the widget's and the admin console's):
- `engine`: one `gamify serve` (API + worker) per test module; `await engine.restart(kill=True)`
  kills it and starts it again on the same port.
- `browser`: one Chromium per session.
- `page`: a fresh browser context and page; the test fails on any console error or uncaught
  page error it did not announce with `page_errors.expect(pattern)`; a screenshot of the
  page is saved when the test ends (`shoot(page, name)` saves more).
- `shop_site` / `stranger_site`: a shop's pages on other origins (127.0.0.1, other ports):
  `await open_widget(page, shop_site, token)` shows the widget there; on
  `gamify:token-expired` the page asks its backend, which hands out `shop_tokens`.
- `open_shop(settings, origins, points)`: a tenant with an API key, its allowed origins,
  and a member with points; `shop.token(ttl)` mints the member's token.

Screenshots go to $GAMIFY_SCREENSHOTS (CI keeps them), else pytest's tmp dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from core.security import issue_token
from core.settings import Settings
from models.members.tables import Member
from models.tenancy.access import create_api_key
from models.tenancy.origins import set_tenant_origins
from tests.factories import make_member, make_tenant
from tests.live.processes import GAMIFY, claimed_redis_database
from tests.serving import free_port, stop_process, until_healthy, uvicorn_serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000  # any single thing a test waits for in the page, on a loaded CI machine
expect.set_options(timeout=WAIT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/browser is a `browser` test (CI runs them as their own step)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


# --- the engine process ---------------------------------------------------------------


@dataclass
class EngineProcess:
    """`gamify serve` (API and worker in one process) on the test database and Redis."""

    env: dict[str, str]
    port: int
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def _spawn(self) -> None:
        self.process = subprocess.Popen(
            [str(GAMIFY), "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True).start()

    async def start(self) -> None:
        self._spawn()
        assert self.process is not None
        await until_healthy(self.url, self.process, lambda: self.output)

    async def stop(self, kill: bool = False) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        await asyncio.to_thread(stop_process, process, kill=kill)
        if process.stdout is not None:
            process.stdout.close()

    async def restart(self, kill: bool = True) -> None:
        """Killed (no goodbye to its clients) and started again on the same port."""
        await self.stop(kill=kill)
        await self.start()

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """One operation over HTTP (as a server would: no Origin); its single field's value,
        which must carry no error."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=15, trust_env=False) as http:
            response = await http.post(
                self.graphql_url,
                json={"query": query, "variables": variables or {}},
                headers=headers,
            )
        body = response.json()
        assert "errors" not in body, body
        (value,) = body["data"].values()
        assert not (isinstance(value, dict) and value.get("errors")), value
        result: dict[str, Any] = value
        return result

    async def callback(self, api_key: str, redemption_id: str, body: dict[str, Any]) -> None:
        """The tenant's fulfilment backend reporting an outcome over REST."""
        async with httpx.AsyncClient(timeout=15, trust_env=False) as http:
            response = await http.post(
                f"{self.url}/api/v1/redemptions/{redemption_id}/callback",
                json=body,
                headers={"Authorization": f"Bearer {api_key}"},
            )
        assert response.status_code == 200, response.text


@contextlib.contextmanager
def own_redis_database(url: str) -> Iterator[str]:
    """A Redis database for the engine's job queue that no other test's worker drains."""
    if url.startswith("unix:"):
        # The session's embedded Redis is this run's alone: a fixed database will do.
        yield url.split("?", 1)[0] + "?db=5"
        return
    with claimed_redis_database(url) as claimed:
        yield claimed


@pytest.fixture(scope="module")
async def engine(
    db: str, settings: Settings, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EngineProcess]:
    with own_redis_database(redis_url) as own_redis:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            DATABASE_URL=db,
            REDIS_URL=own_redis,
            GAMIFY_SECRET_KEY=settings.secret_key,
            GAMIFY_DATA_DIR=str(tmp_path_factory.mktemp("engine")),
            GAMIFY_HOST="127.0.0.1",
            GAMIFY_WEBHOOK_ALLOW_PRIVATE="1",
            GAMIFY_DB_POOL_SIZE="5",
            GAMIFY_GRAPHIQL="0",
        )
        env.pop("GAMIFY_ALLOWED_ORIGINS", None)
        running = EngineProcess(env, free_port())
        env["GAMIFY_PORT"] = str(running.port)
        await running.start()
        try:
            yield running
        finally:
            await running.stop()


# --- a shop (tenant, backend key, member) ----------------------------------------------


@dataclass
class Shop:
    tenant_id: UUID
    api_key: str
    member: Member
    secret_key: str

    def token(self, ttl: int = 3600) -> str:
        """A member token, as the shop's backend gets from `createMemberToken`."""
        return issue_token(self.secret_key, "member", str(self.member.id), str(self.tenant_id), ttl)


async def open_shop(settings: Settings, origins: list[str], points: int = 0) -> Shop:
    """A tenant whose pages on `origins` may use member tokens, its backend's API key, and a
    member with `points` (rows written directly, before the page opens)."""
    new = await make_tenant()
    _, key = await create_api_key(new.tenant.id, "shop backend")
    await set_tenant_origins(new.tenant.id, origins)
    member = await make_member(new.tenant.id, points=points, name="Lan Nguyen")
    return Shop(new.tenant.id, key, member, settings.secret_key)


# --- the shop's site on another origin -------------------------------------------------

WIDGET_PAGE = """<!doctype html>
<html lang="{page_lang}">
<head><meta charset="utf-8"><title>Shop</title><link rel="icon" href="data:,">
<script type="module" src="{engine}/widget/gamify-widget.js"></script>
<style>body {{ font-family: sans-serif; margin: 0; padding: 24px; background: #f4f4f5; }}
main {{ max-width: 760px; margin: 0 auto; }}</style></head>
<body><main><h1>Rewards</h1>
<gamify-rewards id="rewards" endpoint="{engine}/graphql" token="{token}" {lang}></gamify-rewards>
</main>
<script>
  // What a shop's page does: on expiry, ask its own backend for a new token.
  window.expiredEvents = [];
  document.getElementById("rewards").addEventListener("gamify:token-expired", async (event) => {{
    window.expiredEvents.push({{ bubbles: event.bubbles, composed: event.composed }});
    const answer = await fetch("/member-token", {{ method: "POST" }});
    if (answer.ok) event.target.token = (await answer.json()).token;
  }});
</script>
</body></html>
"""


@dataclass
class Site:
    """Pages of a shop on an origin of their own; `/member-token` hands out the tokens a test
    queued in `tokens` (the shop's backend)."""

    origin: str = ""
    engine_url: str = ""
    tokens: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def widget(request: Request) -> HTMLResponse:
            lang = request.query_params.get("lang")
            return HTMLResponse(
                WIDGET_PAGE.format(
                    engine=self.engine_url,
                    token=html.escape(request.query_params.get("token", "")),
                    page_lang=html.escape(request.query_params.get("page_lang", "en")),
                    lang=f'lang="{html.escape(lang)}"' if lang else "",
                )
            )

        async def blank(_request: Request) -> HTMLResponse:
            return HTMLResponse(
                "<!doctype html><title>blank</title><link rel=icon href='data:,'><p>blank</p>"
            )

        async def member_token(_request: Request) -> Response:
            if not self.tokens:
                return JSONResponse({"error": "no token queued"}, 503)
            return JSONResponse({"token": self.tokens.pop(0)})

        return Starlette(
            routes=[
                Route("/", widget),
                Route("/blank", blank),
                Route("/member-token", member_token, methods=["POST"]),
            ]
        )


@contextlib.asynccontextmanager
async def serving_site(engine_url: str) -> AsyncIterator[Site]:
    site = Site(engine_url=engine_url)
    async with uvicorn_serving(site.app()) as url:
        site.origin = url
        yield site


@pytest.fixture(scope="module")
async def shop_site(engine: EngineProcess) -> AsyncIterator[Site]:
    async with serving_site(engine.url) as site:
        yield site


@pytest.fixture(scope="module")
async def stranger_site(engine: EngineProcess) -> AsyncIterator[Site]:
    """Another origin, which no tenant lists."""
    async with serving_site(engine.url) as site:
        yield site


@pytest.fixture
def shop_tokens(shop_site: Site) -> Iterator[list[str]]:
    """The tokens the shop's backend will hand out next (emptied after the test)."""
    yield shop_site.tokens
    shop_site.tokens.clear()


# --- the browser --------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("GAMIFY_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class PageErrors:
    """Console errors and uncaught exceptions of a page; the ones a test expects (e.g. the
    browser reporting a refused connection) are announced with `expect`."""

    seen: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [s for s in self.seen if not any(p.search(s) for p in self.expected)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@dataclass
class Shooter:
    directory: Path
    prefix: str

    async def __call__(self, page: Page, name: str, **options: Any) -> Path:
        path = self.directory / f"{self.prefix}--{name}.png"
        await page.screenshot(path=str(path), **options)
        return path


@pytest.fixture
def shoot(screenshot_dir: Path, request: pytest.FixtureRequest) -> Shooter:
    """`await shoot(page, "name")`: a screenshot kept with the run's artifacts."""
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return Shooter(screenshot_dir, prefix)


@pytest.fixture
async def page(browser: Browser, page_errors: PageErrors, shoot: Shooter) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1024, "height": 900})
    context.set_default_timeout(WAIT_MS)
    opened = await context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            page_errors.seen.append(f"console: {message.text} ({message.location.get('url')})")

    def on_page_error(error: Error) -> None:
        page_errors.seen.append(f"page error: {error.message}")

    opened.on("console", on_console)
    opened.on("pageerror", on_page_error)
    try:
        yield opened
        with contextlib.suppress(Error):
            await shoot(opened, "end", full_page=True)
    finally:
        await context.close()
    unexpected = page_errors.unexpected()
    assert not unexpected, "errors in the page:\n" + "\n".join(unexpected)


async def open_widget(
    page: Page, site: Site, token: str, lang: str | None = None, page_lang: str = "en"
) -> None:
    """The shop's page on `site` with the widget, given the member's token."""
    query = httpx.QueryParams(
        {"token": token, "page_lang": page_lang, **({"lang": lang} if lang else {})}
    )
    await page.goto(f"{site.origin}/?{query}")
