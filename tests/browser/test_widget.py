"""The rewards widget in a real Chromium, on a shop's page of another origin, against a real
engine process."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Page, Route, expect

from core import clock
from core.settings import Settings
from engine.demo_shop import ShopConfig, shop_app
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerSource
from models.redemptions.lifecycle import Via, transition
from models.redemptions.tables import Redemption, RedemptionStatus
from models.tenancy.origins import set_tenant_origins
from models.tiers.policy import PolicyFields, save_tier_policy
from models.tiers.tables import TierBasis
from tests.browser.conftest import (
    EngineProcess,
    PageErrors,
    Shooter,
    Shop,
    Site,
    open_shop,
    open_widget,
)
from tests.factories import make_reward, make_tier
from tests.serving import uvicorn_serving

pytestmark = pytest.mark.browser

SHORT_TTL = 6  # seconds: long enough to open the page on a loaded machine

REDEEM = """
mutation($rewardId: ID!, $key: String) {
  redeemReward(rewardId: $rewardId, idempotencyKey: $key) { redemption { id } errors { code } }
}"""


async def award(
    shop: Shop,
    amount: int,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> None:
    await award_points(
        AwardRequest(
            tenant_id=shop.tenant_id,
            member_id=shop.member.id,
            definition_id=None,
            amount=amount,
            source=LedgerSource.PURCHASE,
            valid_from=valid_from,
            valid_to=valid_to,
        )
    )


async def test_client_modules_talk_to_the_engine_from_another_origin(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page
) -> None:
    # given a shop whose page is on an allowed origin, and a member with points
    shop = await open_shop(settings, [shop_site.origin], points=250)
    await page.goto(f"{shop_site.origin}/blank")
    # when the page imports the client from the engine and asks over HTTP and WebSocket
    answer = await page.evaluate(
        """async ([engine, token]) => {
            const { GraphQLClient } = await import(engine + "/client/graphql.js");
            const { LiveClient } = await import(engine + "/client/live.js");
            const http = new GraphQLClient({ endpoint: engine + "/graphql", token });
            const me = await http.request("{ me { accounts { balance } } }");
            const live = new LiveClient({ url: engine.replace("http", "ws") + "/graphql", token });
            const opened = await new Promise((resolve) => {
              live.addEventListener("status", (e) => e.detail === "open" && resolve(true));
              live.subscribe("subscription { myBalanceChanged { balance } }", {}, {});
            });
            live.close();
            return { balance: me.me.accounts[0].balance, opened };
        }""",
        [engine.url, shop.token()],
    )
    # then both answer
    assert answer == {"balance": 250, "opened": True}


async def test_widget_shows_balances_and_why_each_reward_can_or_cannot_be_redeemed(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page, shoot: Shooter
) -> None:
    # given a member with 380 spendable points (80 expiring in 10 days) and 50 pending
    shop = await open_shop(settings, [shop_site.origin], points=300)
    now = clock.now()
    await award(shop, 80, valid_to=now + timedelta(days=10))
    await award(shop, 50, valid_from=now + timedelta(days=2))
    gold = await make_tier(shop.tenant_id, "Gold", 2)
    # and one reward behind each gate, the cooldown and limit ones redeemed once already
    rewards = {
        "ok": await make_reward(shop.tenant_id, name="Coffee voucher", point_cost=100, stock=3),
        "points": await make_reward(shop.tenant_id, name="Headphones", point_cost=500),
        "tier": await make_reward(
            shop.tenant_id, name="VIP lounge", point_cost=10, min_tier_id=gold.id
        ),
        "stock": await make_reward(shop.tenant_id, name="Tote bag", point_cost=10, stock=0),
        "cooldown": await make_reward(
            shop.tenant_id, name="Daily treat", point_cost=10, cooldown_seconds=86400
        ),
        "limit": await make_reward(
            shop.tenant_id, name="Welcome gift", point_cost=10, per_member_limit=1
        ),
        "later": await make_reward(
            shop.tenant_id,
            name="Summer box",
            point_cost=10,
            available_from=now + timedelta(days=30),
        ),
    }
    token = shop.token()
    for key in ("cooldown", "limit"):
        await engine.gql(REDEEM, {"rewardId": str(rewards[key].id), "key": key}, token)

    # when the shop's page shows the widget
    await open_widget(page, shop_site, token)

    # then the balance after the two redemptions shows, with the pending points and the
    # expiring ones left (redeeming spends the soonest-expiring points first)
    widget = page.locator("gamify-rewards")
    balance = widget.locator(".balance")
    await expect(balance.locator(".amount")).to_have_text("360")
    await expect(balance).to_contain_text("50 pending")
    await expect(balance).to_contain_text("60 expire on")
    # and each reward says, in words, whether it can be redeemed and why not
    reasons = {
        "ok": "You can redeem this",
        "points": "Not enough points (140 more needed)",
        "tier": "Gold tier required",
        "stock": "Out of stock",
        "cooldown": "Available again on",
        "limit": "Limit reached",
        "later": "Available from",
    }
    for key, text in reasons.items():
        card = widget.locator(f'[data-reward="{rewards[key].id}"]')
        await expect(card.locator(".reason")).to_contain_text(text)
        button = card.get_by_role("button", name=f"Redeem {rewards[key].name}")
        await (expect(button).to_be_enabled() if key == "ok" else expect(button).to_be_disabled())
    await expect(widget.locator(f'[data-reward="{rewards["ok"].id}"]')).to_contain_text("3 left")
    await shoot(page, "catalog", full_page=True)
    await page.set_viewport_size({"width": 380, "height": 800})
    await shoot(page, "catalog-phone", full_page=True)


async def redemptions_of(shop: Shop) -> list[Redemption]:
    return await Redemption.filter(member_id=shop.member.id).order_by("created_at")


async def test_redeem_then_the_backends_callback_shows_the_code_without_reload(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page, shoot: Shooter
) -> None:
    # given a member with 500 points and a 200-point voucher, on the shop's page
    shop = await open_shop(settings, [shop_site.origin], points=500)
    reward = await make_reward(shop.tenant_id, name="Coffee voucher", point_cost=200)
    await open_widget(page, shop_site, shop.token())
    widget = page.locator("gamify-rewards")
    await expect(widget.locator(".balance .amount")).to_have_text("500")

    # when the member redeems it and confirms
    await widget.get_by_role("button", name="Redeem Coffee voucher").click()
    dialog = widget.get_by_role("dialog", name="Redeem Coffee voucher?")
    await expect(dialog).to_contain_text(
        "200 points will be taken from your balance (300 points left)"
    )
    await shoot(page, "confirm")
    await dialog.get_by_role("button", name="Yes, redeem").click()

    # then it is listed as being processed, and the balance dropped
    row = widget.locator(".redemption").first
    await expect(row.locator(".status")).to_have_attribute("data-status", "REDEEMED")
    await expect(row.locator(".status")).to_have_text("Processing")
    await expect(widget.locator(".balance .amount")).to_have_text("300")
    (redemption,) = await redemptions_of(shop)
    assert redemption.reward_id == reward.id

    # when the tenant's fulfilment backend reports it fulfilled with a voucher code
    await engine.callback(
        shop.api_key, str(redemption.id), {"status": "fulfilled", "data": {"code": "VC-2026-XYZ"}}
    )

    # then the status and the code appear on the open page, and are announced
    await expect(row.locator(".status")).to_have_text("Ready")
    await expect(row.locator("code")).to_have_text("VC-2026-XYZ")
    await expect(widget.get_by_role("status")).to_have_text("Coffee voucher: Ready")
    await shoot(page, "fulfilled", full_page=True)


async def test_double_click_and_a_retried_request_redeem_once(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page, page_errors: PageErrors
) -> None:
    # given a member and a reward, and a connection that drops the first redeem's answer
    # after the engine has handled it
    shop = await open_shop(settings, [shop_site.origin], points=500)
    await make_reward(shop.tenant_id, name="Tote bag", point_cost=100)
    dropped: list[str] = []

    async def drop_first_answer(route: Route) -> None:
        if "redeemReward" in (route.request.post_data or "") and not dropped:
            dropped.append((await route.fetch()).status_text)
            await route.abort("connectionreset")
        else:
            await route.fallback()

    await page.route(engine.graphql_url, drop_first_answer)
    page_errors.expect("net::ERR_CONNECTION_RESET")
    await open_widget(page, shop_site, shop.token())
    widget = page.locator("gamify-rewards")

    # when the member double-clicks the confirmation, sees the connection drop, and retries
    await widget.get_by_role("button", name="Redeem Tote bag").click()
    dialog = widget.get_by_role("dialog")
    await dialog.get_by_role("button", name="Yes, redeem").dblclick()
    await expect(dialog.get_by_role("alert")).to_contain_text("you will not be charged twice")
    await dialog.get_by_role("button", name="Try again").click()

    # then the dialog closes on the one redemption, and the points were taken once
    await expect(dialog).to_be_hidden()
    await expect(widget.locator(".redemption")).to_have_count(1)
    await expect(widget.locator(".balance .amount")).to_have_text("400")
    assert dropped and len(await redemptions_of(shop)) == 1


async def test_keyboard_only_redeem(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page, shoot: Shooter
) -> None:
    # given a member who can afford only the second of two rewards
    shop = await open_shop(settings, [shop_site.origin], points=150)
    await make_reward(shop.tenant_id, name="Headphones", point_cost=900)
    await make_reward(shop.tenant_id, name="Sticker pack", point_cost=50)
    await open_widget(page, shop_site, shop.token())
    widget = page.locator("gamify-rewards")
    await expect(widget.locator(".balance .amount")).to_have_text("150")

    # when the member tabs to the first button they can use and presses Enter, then Enter
    # again on the confirmation (which has the focus)
    redeem = widget.get_by_role("button", name="Redeem Sticker pack")
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await redeem.evaluate("b => b.getRootNode().activeElement === b"):
            break
    await expect(redeem).to_be_focused()
    await expect(redeem).to_have_accessible_description("You can redeem this")
    await page.keyboard.press("Enter")
    confirm = widget.get_by_role("button", name="Yes, redeem")
    await expect(confirm).to_be_focused()
    await shoot(page, "keyboard-confirm")
    await page.keyboard.press("Enter")

    # then it is redeemed, and the focus is back on the button it started from
    await expect(widget.locator(".redemption .status")).to_have_text("Processing")
    await expect(widget.get_by_role("status")).to_have_text("Redeemed Sticker pack!")
    await expect(redeem).to_be_focused()
    assert len(await redemptions_of(shop)) == 1

    # and Escape closes the confirmation without redeeming
    await page.keyboard.press("Enter")
    await expect(confirm).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(confirm).to_be_hidden()
    await expect(redeem).to_be_focused()
    assert len(await redemptions_of(shop)) == 1


async def test_widget_reconnects_after_the_engine_restarts_and_shows_what_changed_meanwhile(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page, page_errors: PageErrors
) -> None:
    # given a member's open page, live, with one redemption being processed
    shop = await open_shop(settings, [shop_site.origin], points=300)
    reward = await make_reward(shop.tenant_id, name="Cinema ticket", point_cost=100)
    token = shop.token()
    redeemed = await engine.gql(REDEEM, {"rewardId": str(reward.id), "key": "k1"}, token)
    await open_widget(page, shop_site, token)
    widget = page.locator("gamify-rewards")
    await expect(widget.locator(".redemption .status")).to_have_text("Processing")
    await expect(widget.locator(".link")).to_have_attribute("data-state", "open")
    page_errors.expect(r"WebSocket connection to .* failed")
    page_errors.expect("ERR_CONNECTION_REFUSED")

    # when the engine process is killed, the redemption is fulfilled while it is down
    await engine.stop(kill=True)
    await expect(widget.locator(".link")).to_have_attribute("data-state", "reconnecting")
    await transition(
        shop.tenant_id,
        UUID(redeemed["redemption"]["id"]),
        RedemptionStatus.FULFILLED,
        Via.CALLBACK,
        actor="shop backend",
        data={"code": "CINE-42"},
    )
    # and the engine comes back
    await engine.start()

    # then the widget reconnects by itself, and the change it missed arrives as an update
    # (resumed after the last event it saw) with the code
    await expect(widget.locator(".link")).to_have_attribute("data-state", "open", timeout=30_000)
    await expect(widget.get_by_role("status")).to_have_text("Cinema ticket: Ready")
    await expect(widget.locator(".redemption code")).to_have_text("CINE-42")


async def test_a_page_on_an_origin_the_tenant_does_not_list_is_refused(
    engine: EngineProcess,
    shop_site: Site,
    stranger_site: Site,
    settings: Settings,
    page: Page,
    page_errors: PageErrors,
    shoot: Shooter,
) -> None:
    # given a shop that lists only its own site, and the member's token on another site
    shop = await open_shop(settings, [shop_site.origin], points=300)
    token = shop.token()
    page_errors.expect("blocked by CORS policy")
    page_errors.expect("net::ERR_FAILED")

    # when that site's page embeds the widget, and itself calls the API and the socket
    await open_widget(page, stranger_site, token)
    widget = page.locator("gamify-rewards")
    tried = await page.evaluate(
        """async ([endpoint, token]) => {
            let fetched;
            try {
              await fetch(endpoint, { method: "POST", body: "{}", headers: {
                Authorization: "Bearer " + token, "Content-Type": "application/json" } });
              fetched = "answered";
            } catch (error) { fetched = error.name; }
            const socket = new WebSocket(endpoint.replace("http", "ws"), "graphql-transport-ws");
            socket.onopen = () => socket.send(JSON.stringify({
              type: "connection_init", payload: { Authorization: "Bearer " + token } }));
            const closed = await new Promise((resolve) => (socket.onclose = (e) => resolve(e.code)));
            return { fetched, closed };
        }""",
        [engine.graphql_url, token],
    )

    # then the browser refuses the fetch after its preflight, the engine closes the socket
    # with 4403, and the widget says the page may not show the rewards
    assert tried == {"fetched": "TypeError", "closed": 4403}
    await expect(widget.get_by_role("alert")).to_have_text(
        "This page is not allowed to show your rewards."
    )
    await expect(widget.locator(".catalog")).to_have_count(0)
    await shoot(page, "refused")
    # and the preflight the browser sent was answered 403, without CORS headers
    async with httpx.AsyncClient(trust_env=False) as http:
        preflight = await http.options(
            engine.graphql_url,
            headers={
                "Origin": stranger_site.origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


async def test_expired_token_fires_the_event_and_a_new_token_carries_on(
    engine: EngineProcess,
    shop_site: Site,
    shop_tokens: list[str],
    settings: Settings,
    page: Page,
) -> None:
    # given the widget open with a token about to expire, and the shop's backend ready to
    # hand the page a new one
    shop = await open_shop(settings, [shop_site.origin], points=300)
    await make_reward(shop.tenant_id, name="Gift card", point_cost=100)
    expires_at = time.time() + SHORT_TTL
    await open_widget(page, shop_site, shop.token(ttl=SHORT_TTL))
    widget = page.locator("gamify-rewards")
    await expect(widget.locator(".balance .amount")).to_have_text("300")
    shop_tokens.append(shop.token())
    await asyncio.sleep(max(0.0, expires_at - time.time()) + 1)  # let the first token expire

    # when the member redeems after it expired
    await widget.get_by_role("button", name="Redeem Gift card").click()
    await widget.get_by_role("button", name="Yes, redeem").click()

    # then the element told the page once (bubbling out of the shadow root), the page set
    # the new token, and the redeem went through with it
    await expect(widget.locator(".redemption .status")).to_have_text("Processing")
    await expect(widget.locator(".balance .amount")).to_have_text("200")
    assert await page.evaluate("window.expiredEvents") == [{"bubbles": True, "composed": True}]
    assert shop_tokens == []
    (redemption,) = await redemptions_of(shop)
    # and the live connection carries on with the new token
    await expect(widget.locator(".link")).to_have_attribute("data-state", "open")
    await engine.callback(
        shop.api_key, str(redemption.id), {"status": "fulfilled", "data": {"code": "GIFT-7"}}
    )
    await expect(widget.locator(".redemption code")).to_have_text("GIFT-7")
    await expect(widget.get_by_role("alert")).to_have_count(0)


async def test_demo_shop_page_mints_a_token_and_shows_the_widget_in_vietnamese(
    engine: EngineProcess, settings: Settings, page: Page, shoot: Shooter
) -> None:
    # given the demo shop's backend (minting tokens with its tenant's key) on its own origin
    shop = await open_shop(settings, [], points=240)
    await make_reward(shop.tenant_id, name="Cà phê sữa đá", point_cost=200, stock=5)
    await make_reward(shop.tenant_id, name="Bình giữ nhiệt", point_cost=400)
    config = ShopConfig(engine.url, shop.api_key, shop.member.external_user_id)
    async with uvicorn_serving(shop_app(config)) as shop_url:
        await set_tenant_origins(shop.tenant_id, [shop_url])

        # when a visitor opens the shop's page and picks Vietnamese
        await page.goto(shop_url)
        widget = page.locator("gamify-rewards")
        await expect(widget.locator(".balance .amount")).to_have_text("240")
        await page.get_by_label("Language").select_option("vi")

        # then the widget shows the member's rewards in Vietnamese
        await expect(widget.get_by_role("heading", name="Điểm của bạn")).to_be_visible()
        costly = widget.locator(".card", has_text="Bình giữ nhiệt")
        await expect(costly.locator(".reason")).to_have_text("Không đủ điểm (cần thêm 160)")
        await expect(widget.locator(".card", has_text="Cà phê")).to_contain_text("Còn 5")
        await shoot(page, "demo-shop-vi", full_page=True)


async def test_loading_and_empty_states_follow_the_pages_language(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page
) -> None:
    # given a new member of a shop with no rewards yet, and a slow first answer
    shop = await open_shop(settings, [shop_site.origin])
    held = asyncio.Event()

    async def slow(route: Route) -> None:
        await held.wait()
        await route.fallback()

    await page.route(engine.graphql_url, slow)

    # when the widget opens on a page in Vietnamese
    await open_widget(page, shop_site, shop.token(), page_lang="vi")
    widget = page.locator("gamify-rewards")

    # then it says it is loading, then that there is nothing yet, in Vietnamese
    await expect(widget.locator('[data-state="loading"]')).to_have_text("Đang tải ưu đãi…")
    held.set()
    await expect(widget.locator('[data-state="empty"]')).to_have_text(
        "Hiện chưa có phần thưởng nào. Hãy quay lại sau nhé!"
    )
    # and a lang attribute on the element wins over the page's
    await widget.evaluate("el => el.setAttribute('lang', 'en')")
    await expect(widget.locator('[data-state="empty"]')).to_have_text(
        "No rewards to show right now. Check back soon!"
    )


async def test_service_unreachable_then_back_without_a_reload(
    engine: EngineProcess,
    shop_site: Site,
    settings: Settings,
    page: Page,
    page_errors: PageErrors,
    shoot: Shooter,
) -> None:
    # given a member's page whose requests to the engine fail for now
    shop = await open_shop(settings, [shop_site.origin], points=120)
    down = True

    async def flaky_network(route: Route) -> None:
        await (route.abort("internetdisconnected") if down else route.fallback())

    await page.route(engine.graphql_url, flaky_network)
    page_errors.expect("net::ERR_INTERNET_DISCONNECTED")

    # when the widget opens
    await open_widget(page, shop_site, shop.token())
    widget = page.locator("gamify-rewards")

    # then it says the service cannot be reached and that it keeps trying
    await expect(widget.get_by_role("alert")).to_contain_text("Can't reach the rewards service")
    await shoot(page, "unreachable")
    # and when the network is back, it shows the member's points by itself
    down = False
    await expect(widget.locator(".balance .amount")).to_have_text("120")
    await expect(widget.get_by_role("alert")).to_have_count(0)


async def test_expired_token_without_a_new_one_says_so_until_the_page_sets_one(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page, page_errors: PageErrors
) -> None:
    # given a token that has already expired, and a shop backend with nothing to give
    shop = await open_shop(settings, [shop_site.origin], points=70)
    page_errors.expect("status of 503")

    # when the page shows the widget with it
    await open_widget(page, shop_site, shop.token(ttl=-60))
    widget = page.locator("gamify-rewards")

    # then the member is told the session expired, and the page was told once
    await expect(widget.get_by_role("alert")).to_contain_text("Your session has expired")
    await page.wait_for_function("window.expiredEvents.length > 0")
    assert await page.evaluate("window.expiredEvents.length") == 1
    # and setting the token property later brings everything back
    await widget.evaluate("(el, token) => { el.token = token; }", shop.token())
    await expect(widget.locator(".balance .amount")).to_have_text("70")
    await expect(widget.get_by_role("alert")).to_have_count(0)
    await expect(widget.locator(".link")).to_have_attribute("data-state", "open")


async def test_a_purchase_that_earns_a_tier_shows_it_in_the_open_widget(
    engine: EngineProcess, shop_site: Site, settings: Settings, page: Page, shoot: Shooter
) -> None:
    # given tiers computed from activity (Silver from 1,000 points) and a member with 600
    shop = await open_shop(settings, [shop_site.origin], points=600)
    silver = await make_tier(shop.tenant_id, "Silver", 1)
    silver.min_value = 1000
    await silver.save()
    await save_tier_policy(
        shop.tenant_id, PolicyFields(True, TierBasis.POINTS_EARNED, None, 12, 12, 0)
    )
    await open_widget(page, shop_site, shop.token())
    widget = page.locator("gamify-rewards")
    await expect(widget.locator(".balance .amount")).to_have_text("600")
    await expect(widget.locator(".who")).not_to_contain_text("member")

    # when the shop's backend awards 400 points for a purchase
    await engine.gql(
        "mutation($m: ID!) { awardPoints(input: {memberId: $m, amount: 400, source: PURCHASE})"
        " { entry { id } errors { code } } }",
        {"m": str(shop.member.id)},
        shop.api_key,
    )

    # then the open widget shows the new balance and the tier, and announces the tier
    await expect(widget.locator(".balance .amount")).to_have_text("1,000")
    await expect(widget.locator(".who")).to_contain_text("Silver member")
    await expect(widget.get_by_role("status")).to_contain_text("You are now a Silver member")
    await shoot(page, "tier-upgrade", full_page=True)
