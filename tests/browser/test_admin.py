"""The admin console in a real browser, against a real `gamify serve` (API and worker) and
a real webhook receiver process: staff log in, run the catalog, watch redemptions change
live, settle them, replay webhooks and manage API keys; no screen logs a console error,
and each is kept as a screenshot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from core.security import issue_token
from core.settings import Settings
from models.tenancy.origins import set_tenant_origins
from models.tenancy.tables import TenantAdmin
from models.webhooks.tables import DeliveryStatus, WebhookDelivery
from tests.browser.admin_fixtures import (  # noqa: F401 (fixtures, by their names)
    AdminTenant,
    Receiver,
    admin_tenant_fixture,
    go,
    log_in,
    receiver_fixture,
)
from tests.browser.conftest import PageErrors, Shooter, Site, open_widget
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

SLOW_MS = 30_000  # webhook retries are 5 s apart (±20 %); the delivery log re-reads every 5 s

REDEEM = """mutation($r: ID!, $e: String!) { redeemReward(rewardId: $r, externalUserId: $e) {
  redemption { id status } errors { code } } }"""


async def _member(tenant: AdminTenant, points: int = 1000) -> str:
    ext = f"shop-{uuid.uuid4().hex[:6]}"
    await tenant.backend(
        'mutation($e: String!) { upsertMember(input: {externalUserId: $e, name: "Lan Nguyen",'
        ' email: "lan@example.com"}) { member { id } errors { code } } }',
        {"e": ext},
    )
    await tenant.backend(
        "mutation($e: String!, $n: Int!) { awardPoints(input: {externalUserId: $e, amount: $n,"
        ' source: PURCHASE, description: "Order 1001"}) { entry { id } errors { code } } }',
        {"e": ext, "n": points},
    )
    return ext


async def _reward(tenant: AdminTenant, name: str = "Coffee voucher", cost: int = 100) -> str:
    created = await tenant.admin(
        "mutation($n: String!, $c: Int!) { createReward(input: {name: $n, type: VOUCHER,"
        ' value: "1 coffee", pointCost: $c, stock: 50}) { reward { id } errors { code } } }',
        {"n": name, "c": cost},
    )
    reward_id: str = created["reward"]["id"]
    return reward_id


async def _endpoint(tenant: AdminTenant, receiver: Receiver, path: str) -> str:
    created = await tenant.admin(
        "mutation($u: String!) { createWebhookEndpoint(input: {url: $u,"
        ' events: ["reward_redeemed"]}) { endpoint { id } errors { code message } } }',
        {"u": f"{receiver.url}/{path}"},
    )
    endpoint_id: str = created["endpoint"]["id"]
    return endpoint_id


async def _redeem(tenant: AdminTenant, reward_id: str, ext: str) -> str:
    redeemed = await tenant.backend(REDEEM, {"r": reward_id, "e": ext})
    redemption_id: str = redeemed["redemption"]["id"]
    return redemption_id


def _row(page: Page, key: str) -> Any:
    return page.locator(f'tr[data-key="{key}"]')


async def test_log_in_and_create_a_reward_fixing_a_validation_error_in_place(
    page: Page, admin_tenant: AdminTenant, shop_site: Site, shoot: Shooter
) -> None:
    # given staff logged in, on a new reward's form
    await log_in(page, admin_tenant, "rewards/new")
    form = page.locator("admin-form")
    await form.get_by_label("Name").fill("Free coffee")
    await form.get_by_label("Point cost").fill("-5")
    await form.get_by_label("Fulfilment data").fill('{"sku": ')

    # when they submit, the JSON is refused where it was typed, before any request
    await page.get_by_role("button", name="Create reward").click()
    await expect(page.locator('[data-field="fulfillmentData"] .error')).to_contain_text(
        "Not valid JSON"
    )
    await form.get_by_label("Fulfilment data").fill('{"sku": "COF-1"}')
    await page.get_by_role("button", name="Create reward").click()

    # then the API's refusal is shown next to the point cost, in words
    cost_error = page.locator('[data-field="pointCost"] .error')
    await expect(cost_error).to_have_text("Must not be negative (INVALID)")
    await shoot(page, "reward-validation-error", full_page=True)

    # when they fix it in place and submit again
    await form.get_by_label("Point cost").fill("120")
    await page.get_by_role("button", name="Create reward").click()

    # then the reward is created
    await expect(page.locator("main h1")).to_have_text("Reward: Free coffee")
    await expect(page.get_by_role("status").filter(has_text="Reward created.")).to_be_visible()

    # and the member's widget on the shop's page offers it
    await set_tenant_origins(admin_tenant.tenant_id, [shop_site.origin])
    await open_widget(
        page, shop_site, await _member_token(admin_tenant, await _member(admin_tenant))
    )
    redeem = page.locator("gamify-rewards").get_by_role("button", name="Redeem Free coffee")
    await expect(redeem).to_be_enabled()


async def _member_token(tenant: AdminTenant, ext: str) -> str:
    minted = await tenant.backend(
        "mutation($e: String!) { createMemberToken(externalUserId: $e) { token } }", {"e": ext}
    )
    token: str = minted["token"]
    return token


async def test_a_redemption_appears_live_turns_postponed_and_is_confirmed_with_a_code(
    page: Page, admin_tenant: AdminTenant, receiver: Receiver, shop_site: Site, shoot: Shooter
) -> None:
    # given a receiver that postpones, and staff watching the Redemptions tab
    path = f"postpone-{admin_tenant.tenant_id}"
    receiver.reply(path, 200, {"status": "postponed"})
    await _endpoint(admin_tenant, receiver, path)
    reward_id = await _reward(admin_tenant)
    ext = await _member(admin_tenant)
    await log_in(page, admin_tenant, "redemptions")
    await expect(page.get_by_text("No redemption matches these filters.")).to_be_visible()
    await page.evaluate("window.notReloaded = true")

    # when the shop's backend redeems through the API
    redemption_id = await _redeem(admin_tenant, reward_id, ext)

    # then the row appears at the top without a reload, and turns POSTPONED live
    row = _row(page, redemption_id)
    await expect(page.locator("admin-table tbody tr").first).to_have_attribute(
        "data-key", redemption_id
    )
    await expect(row.locator('[data-column="status"]')).to_have_text("POSTPONED")
    await expect(row.locator('[data-column="member"]')).to_have_text(ext)
    assert await page.evaluate("window.notReloaded") is True
    await shoot(page, "redemptions-live", full_page=True)

    # when staff open it and confirm with a voucher code
    await row.locator('[data-column="reward"]').click()
    await expect(page.locator("main h1")).to_have_text("Redemption")
    await expect(page.locator('li[data-kind="WEBHOOK_POSTED"]')).to_be_visible()
    await page.locator("#confirm-form").get_by_label("Fulfilment data").fill('{"code": "VC-123"}')
    await page.get_by_role("button", name="Confirm (fulfilled)").click()

    # then it is FULFILLED, and the member's widget on the shop's page shows the code
    await expect(page.get_by_test_id("status")).to_have_text("FULFILLED")
    await shoot(page, "redemption-fulfilled", full_page=True)
    await set_tenant_origins(admin_tenant.tenant_id, [shop_site.origin])
    await open_widget(page, shop_site, await _member_token(admin_tenant, ext))
    code = page.locator("gamify-rewards .redemption").first.locator("code")
    await expect(code).to_have_text("VC-123")


async def test_cancelling_a_recoverable_failure_fails_it_and_refunds_the_member(
    page: Page, admin_tenant: AdminTenant, shoot: Shooter
) -> None:
    # given a redemption the fulfilment backend reported as a recoverable failure
    reward_id = await _reward(admin_tenant, cost=250)
    ext = await _member(admin_tenant, points=1000)
    redemption_id = await _redeem(admin_tenant, reward_id, ext)
    await admin_tenant.engine.callback(
        admin_tenant.api_key, redemption_id, {"status": "recoverable_failure"}
    )
    await log_in(page, admin_tenant, f"redemptions/{redemption_id}")
    await expect(page.get_by_test_id("status")).to_have_text("RECOVERABLE FAILURE")

    # when staff cancel it with a reason
    await (
        page.locator("#cancel-form")
        .get_by_label("Reason for cancelling")
        .fill("Supplier out of stock")
    )
    await page.get_by_role("button", name="Cancel (failed, refund)").click()

    # then it is FAILED, and the member card shows the refund in the ledger
    await expect(page.get_by_test_id("status")).to_have_text("FAILED")
    await page.get_by_role("link", name=ext).click()
    await expect(page.locator("main h1")).to_have_text(f"Member {ext}")
    refund = page.locator("#ledger tbody tr").filter(has_text="REFUND")
    await expect(refund.locator('[data-column="amount"]')).to_have_text("+250")
    await expect(refund.locator('[data-column="balance"]')).to_have_text("750 → 1000")
    await expect(page.locator('[data-account="points"] .n')).to_have_text("1000")
    await shoot(page, "member-card-refund", full_page=True)


async def test_a_failing_receiver_shows_its_attempts_and_a_replay_delivers(
    page: Page, admin_tenant: AdminTenant, receiver: Receiver, shoot: Shooter
) -> None:
    # given a receiver answering 500, and a redemption whose webhook it refuses
    path = f"down-{admin_tenant.tenant_id}"
    receiver.reply(path, 500, {"error": "database down"})
    endpoint_id = await _endpoint(admin_tenant, receiver, path)
    ext = await _member(admin_tenant)
    await _redeem(admin_tenant, await _reward(admin_tenant), ext)

    # when staff open the endpoint's delivery log
    await log_in(page, admin_tenant, f"webhooks/deliveries?endpoint={endpoint_id}")

    # then they see the failed attempts (the first one, and the retry 5 s later)
    row = page.locator("admin-table tbody tr").first
    await expect(row.locator('[data-column="attempts"] summary')).to_have_text(
        "2 attempts", timeout=SLOW_MS
    )
    await row.locator('[data-column="attempts"] summary').click()
    await expect(row.locator('[data-column="attempts"] li').first).to_contain_text("HTTP 500")
    await expect(row.locator('[data-column="status"] .status')).to_have_text("PENDING")
    await shoot(page, "deliveries-failing", full_page=True)

    # when the receiver recovers and staff replay the delivery (the next retry is 5 min away)
    receiver.reply(path, 200, {})
    await row.get_by_role("button", name="Replay").click()

    # then it is DELIVERED
    await expect(page.get_by_role("status").filter(has_text="queued again")).to_be_visible()
    delivered = page.locator("admin-table tbody tr").first.locator('[data-column="status"] .status')
    await expect(delivered).to_have_text("DELIVERED", timeout=SLOW_MS)
    assert len(receiver.received(path)) == 3
    await shoot(page, "deliveries-replayed", full_page=True)


async def test_an_api_key_is_shown_once_and_refused_once_revoked(
    page: Page, admin_tenant: AdminTenant, shoot: Shooter
) -> None:
    # given staff on Settings
    await log_in(page, admin_tenant, "settings")

    # when they create a key
    await page.locator("#new-api-key").get_by_label("Key name").fill("pos-terminal")
    await page.get_by_role("button", name="Create API key").click()

    # then its secret is shown, and it works
    secret = await page.locator("[data-secret]").inner_text()
    assert secret.startswith("gk_")
    await shoot(page, "api-key-shown-once", full_page=True)
    members = "{ members { nodes { id } } }"
    assert "errors" not in await _call(admin_tenant, members, secret)

    # when they revoke it
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Revoke pos-terminal").click()

    # then it is marked revoked, the secret is gone from the page, and calls are refused
    revoked = page.locator('tr[data-key-name="pos-terminal"]')
    await expect(revoked).to_contain_text("Revoked")
    await expect(page.locator("[data-secret]")).to_have_count(0)
    refused = await _call(admin_tenant, members, secret)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_endpoint_is_created_with_its_secret_shown_once(
    page: Page, admin_tenant: AdminTenant, receiver: Receiver, shoot: Shooter
) -> None:
    # given staff on Webhooks
    await log_in(page, admin_tenant, "webhooks")
    url = f"{receiver.url}/new-{admin_tenant.tenant_id}"

    # when they add an endpoint
    await page.locator("#new-endpoint").get_by_label("URL").fill(url)
    await page.get_by_role("button", name="Add endpoint").click()

    # then it is listed, and its signing secret is shown with a copy button
    await expect(page.locator(f'section.endpoint[data-url="{url}"]')).to_be_visible()
    secret = await page.locator("[data-secret]").inner_text()
    assert secret.startswith("whsec_")
    await expect(page.get_by_role("button", name="Copy")).to_be_visible()
    await shoot(page, "endpoint-secret-shown-once", full_page=True)

    # when they come back to the screen, the secret is not shown again
    await go(page, "dashboard")
    await go(page, "webhooks")
    await expect(page.locator(f'section.endpoint[data-url="{url}"]')).to_be_visible()
    await expect(page.locator("[data-secret]")).to_have_count(0)


async def test_in_follower_mode_the_member_card_shows_the_masters_log_and_a_delivered_adjustment(
    page: Page, admin_tenant: AdminTenant, receiver: Receiver, shoot: Shooter
) -> None:
    # given a tenant whose points a master on 127.0.0.1 owns (FOLLOWER_TRANSACTIONS)
    tid = admin_tenant.tenant_id
    ext = f"shop-{uuid.uuid4().hex[:6]}"
    receiver.reply(
        f"master-{tid}/{ext}",
        200,
        [{"transactionDate": "2026-11-30T10:00:00Z", "amount": 300, "description": "Store 12"}],
    )
    await admin_tenant.admin(
        'mutation { setPointMode(mode: FOLLOWER_TRANSACTIONS, reason: "Master owns points")'
        " { mode errors { code } } }"
    )
    await admin_tenant.admin(
        "mutation($log: String!, $adjust: String!) { setPointMasterSettings(input:"
        " {pointsLogUrl: $log, adjustmentUrl: $adjust}) { settings { pointsLogUrl }"
        " errors { code message } } }",
        {
            "log": f"{receiver.url}/master-{tid}/{{contactId}}",
            "adjust": f"{receiver.url}/adjust-{tid}",
        },
    )
    await admin_tenant.admin("mutation { rotatePointMasterKey { key { keyId } errors { code } } }")
    member = await admin_tenant.backend(
        "mutation($e: String!) { upsertMember(input: {externalUserId: $e}) { member { id } errors { code } } }",
        {"e": ext},
    )

    # when staff open the member card
    await log_in(page, admin_tenant, f"members/{member['member']['id']}")

    # then it shows the points log read from the master
    log = page.locator("#points-log")
    await expect(log.locator("tbody tr")).to_have_count(1)
    await expect(log.locator("tbody tr")).to_contain_text("Store 12")
    await expect(log.locator("tbody tr")).to_contain_text("300")

    # when they adjust the member's points with a reason
    await page.get_by_label("Points to add (negative removes)").fill("50")
    await page.get_by_label("Reason (for staff)").fill("Goodwill for a late parcel")
    await page.get_by_role("button", name="Adjust points").click()

    # then it is sent to the master, and its status moves to DELIVERED on the card
    await expect(
        page.get_by_role("status").filter(has_text="Sent to the point master")
    ).to_be_visible()
    status = page.locator("#adjustments tbody tr").first.locator('[data-column="status"]')
    await expect(status).to_have_text("DELIVERED", timeout=SLOW_MS)
    (sent,) = receiver.received(f"adjust-{tid}")
    assert sent["body"]["eventType"] == "loyalty.addPoints"
    await shoot(page, "member-card-follower", full_page=True)


async def test_the_dashboard_counts_todays_redemptions_and_feeds_changes_live(
    page: Page, admin_tenant: AdminTenant, shoot: Shooter
) -> None:
    # given one redemption already made today, and staff on the dashboard
    reward_id = await _reward(admin_tenant, name="Cinema ticket")
    ext = await _member(admin_tenant)
    await _redeem(admin_tenant, reward_id, ext)
    await log_in(page, admin_tenant)
    redeemed = page.locator('#counts [data-status="REDEEMED"] .n')
    await expect(redeemed).to_have_text("1")

    # when another one is made and the first is then fulfilled by the shop's backend
    second = await _redeem(admin_tenant, reward_id, ext)
    await admin_tenant.engine.callback(admin_tenant.api_key, second, {"status": "fulfilled"})

    # then the feed shows the change as it happens, and the counts follow
    fulfilled = page.locator("#feed li").filter(has_text="FULFILLED").first
    await expect(fulfilled).to_contain_text("Cinema ticket")
    await expect(fulfilled).to_contain_text(ext)
    await expect(page.locator('#counts [data-status="FULFILLED"] .n')).to_have_text("1")
    await expect(redeemed).to_have_text("1")
    await shoot(page, "dashboard-live", full_page=True)


async def test_redemptions_are_filtered_by_status_and_member(
    page: Page, admin_tenant: AdminTenant
) -> None:
    # given two members' redemptions, one of them postponed
    reward_id = await _reward(admin_tenant)
    ann, bob = await _member(admin_tenant), await _member(admin_tenant)
    anns = await _redeem(admin_tenant, reward_id, ann)
    bobs = await _redeem(admin_tenant, reward_id, bob)
    await admin_tenant.engine.callback(admin_tenant.api_key, bobs, {"status": "postponed"})
    await log_in(page, admin_tenant, "redemptions")
    await expect(page.locator("admin-table tbody tr")).to_have_count(2)

    # when staff filter by status
    await page.get_by_label("Status").select_option("POSTPONED")
    await page.get_by_role("button", name="Filter").click()
    # then only the postponed one is listed
    await expect(page.locator("admin-table tbody tr")).to_have_count(1)
    await expect(_row(page, bobs)).to_be_visible()

    # when they filter by a member instead, and by one that does not exist
    await page.get_by_label("Status").select_option("")
    await page.get_by_label("Member (external id)").fill(ann)
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("admin-table tbody tr")).to_have_count(1)
    await expect(_row(page, anns)).to_be_visible()
    await page.get_by_label("Member (external id)").fill("nobody-here")
    await page.get_by_role("button", name="Filter").click()

    # then the unknown member is said so next to the field
    await expect(page.locator('[data-field="member"] .error')).to_have_text(
        "No member has this external id (NOT_FOUND)"
    )


async def test_redemptions_are_paginated_newest_first(
    page: Page, admin_tenant: AdminTenant
) -> None:
    # given 26 redemptions (a page holds 25)
    reward_id = await _reward(admin_tenant, cost=1)
    ext = await _member(admin_tenant)
    made = [await _redeem(admin_tenant, reward_id, ext) for _ in range(26)]
    await log_in(page, admin_tenant, "redemptions")
    rows = page.locator("admin-table tbody tr")

    # then the first page holds the newest 25, newest on top
    await expect(rows).to_have_count(25)
    await expect(rows.first).to_have_attribute("data-key", made[-1])

    # when staff go to the older page, then the oldest one is there alone
    await page.get_by_role("button", name="Older →").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-key", made[0])
    await expect(page.get_by_role("button", name="Older →")).to_be_disabled()

    # when a redemption is made meanwhile and staff go back, it is on top of the newest page
    newest = await _redeem(admin_tenant, reward_id, ext)
    await page.get_by_role("button", name="← Newer").click()
    await expect(rows.first).to_have_attribute("data-key", newest)
    await expect(rows).to_have_count(25)


async def test_staff_change_their_password_and_log_out(
    page: Page, admin_tenant: AdminTenant
) -> None:
    # given staff on Settings
    await log_in(page, admin_tenant, "settings")
    form = page.locator("#change-password")

    # when they give a wrong current password
    await form.get_by_label("Current password").fill("not-my-password")
    await form.get_by_label("New password").fill("a-brand-new-secret")
    await page.get_by_role("button", name="Change password").click()
    # then it is said next to that field
    await expect(form.locator('[data-field="c"] .error')).to_have_text(
        "The current password is wrong (INVALID_CREDENTIALS)"
    )

    # when they give the right one, then log out
    await form.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("status").filter(has_text="Password changed.")).to_be_visible()
    await page.locator("#logout").click()

    # then the login form is back, and the token is gone from the tab
    await expect(page.locator("main h1")).to_have_text("Log in")
    assert await page.evaluate("sessionStorage.length") == 0
    # and the new password logs in (the old one is refused, in words)
    await page.get_by_label("Email").fill(admin_tenant.admin_email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator('[data-field="password"] .error')).to_contain_text(
        "Invalid email or password"
    )
    await page.get_by_label("Password").fill("a-brand-new-secret")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("main h1")).to_have_text("Settings")


async def test_the_redemptions_tab_keeps_updating_after_the_engine_restarts(
    page: Page, admin_tenant: AdminTenant, page_errors: PageErrors
) -> None:
    # given staff watching the Redemptions tab, with one redemption listed
    reward_id = await _reward(admin_tenant)
    ext = await _member(admin_tenant)
    first = await _redeem(admin_tenant, reward_id, ext)
    await log_in(page, admin_tenant, "redemptions")
    await expect(_row(page, first)).to_be_visible()
    await expect(page.locator("#live-status")).to_have_text("Live")

    # when the engine is killed and started again (the console's connection drops; the
    # browser reports the refused reconnection attempts on its console)
    page_errors.expect(r"WebSocket connection to .* failed")
    await admin_tenant.engine.restart(kill=True)
    await expect(page.locator("#live-status")).to_have_text("Live", timeout=SLOW_MS)
    second = await _redeem(admin_tenant, reward_id, ext)

    # then the new redemption still appears on top, and no row is doubled
    await expect(page.locator("admin-table tbody tr").first).to_have_attribute("data-key", second)
    await expect(page.locator("admin-table tbody tr")).to_have_count(2)


async def test_an_expired_session_returns_to_the_login_form_in_words(
    page: Page, admin_tenant: AdminTenant, settings: Settings
) -> None:
    # given a tab holding an admin token that has expired
    admin = await TenantAdmin.get(email=admin_tenant.admin_email)
    expired = issue_token(
        settings.secret_key, "admin", str(admin.id), str(admin_tenant.tenant_id), -60
    )
    await page.goto(f"{admin_tenant.engine.url}/admin/")
    await page.evaluate("t => sessionStorage.setItem('gamify-admin-token', t)", expired)

    # when the console opens a screen with it
    await page.goto(f"{admin_tenant.engine.url}/admin/#/redemptions")
    await page.reload()

    # then staff are asked to log in again, and are told why
    await expect(page.locator("main h1")).to_have_text("Log in")
    await expect(page.get_by_role("alert")).to_have_text("Your session expired. Log in again.")
    await page.get_by_label("Email").fill(admin_tenant.admin_email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("main h1")).to_have_text("Redemptions")


async def test_point_modes_switch_with_a_reason_and_a_rotated_key_is_shown_once(
    page: Page, admin_tenant: AdminTenant, shoot: Shooter
) -> None:
    # given staff on the Point master screen
    await log_in(page, admin_tenant, "point-master")
    tenant_mode = page.locator("admin-form").first

    # when they switch the tenant's mode without a reason
    await tenant_mode.get_by_label("Tenant's point mode").select_option("FOLLOWER_BALANCE")
    await tenant_mode.get_by_role("button", name="Switch").click()
    # then the reason is asked for, next to its field
    await expect(tenant_mode.locator('[data-field="reason"] .error')).to_have_text(
        "This field is required"
    )

    # when they give one
    await tenant_mode.get_by_label("Reason for the switch").fill("The CRM owns the points now")
    await tenant_mode.get_by_role("button", name="Switch").click()

    # then the switch is in the history with who and why, and the currency follows it
    history = page.locator("table").filter(has_text="Why").locator("tbody tr").first
    await expect(history).to_contain_text("The CRM owns the points now")
    await expect(history).to_contain_text("FOLLOWER_BALANCE")
    await expect(history).to_contain_text("admin:")
    await expect(page.get_by_text("In force: FOLLOWER BALANCE")).to_be_visible()

    # when they rotate the shared key
    await page.get_by_role("button", name="Rotate key (new key shown once)").click()

    # then the new key is shown once, and listed as current
    secret = await page.locator("[data-secret]").inner_text()
    assert len(secret) == 44  # base64 of 32 bytes
    await expect(page.get_by_text("(current)")).to_be_visible()
    await shoot(page, "point-master-switched", full_page=True)
    await go(page, "dashboard")
    await go(page, "point-master")
    await expect(page.locator("[data-secret]")).to_have_count(0)


async def test_the_console_is_usable_with_the_keyboard_alone(
    page: Page, admin_tenant: AdminTenant
) -> None:
    # given a redemption
    redemption_id = await _redeem(
        admin_tenant, await _reward(admin_tenant), await _member(admin_tenant)
    )
    await page.goto(f"{admin_tenant.engine.url}/admin")  # as typed: no trailing slash

    # when staff log in by typing and pressing Enter
    await page.keyboard.type(admin_tenant.admin_email)  # the email field has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("main h1")).to_have_text("Dashboard")

    # and open the Redemptions tab, then the row, with Enter (both take the focus)
    await page.get_by_role("link", name="Redemptions").focus()
    await page.keyboard.press("Enter")
    row = _row(page, redemption_id)
    await row.focus()
    await page.keyboard.press("Enter")

    # then the redemption opens
    await expect(page.locator("main h1")).to_have_text("Redemption")
    await expect(page.locator("main")).to_contain_text(redemption_id)


async def test_endpoints_are_disabled_and_pinged_and_dead_deliveries_replayed_since_a_time(
    page: Page, admin_tenant: AdminTenant, receiver: Receiver, shoot: Shooter
) -> None:
    # given an endpoint whose delivery ran out of retries (DEAD) while its receiver was down
    path = f"dead-{admin_tenant.tenant_id}"
    receiver.reply(path, 200, {})
    endpoint_id = await _endpoint(admin_tenant, receiver, path)
    redemption_id = await _redeem(
        admin_tenant, await _reward(admin_tenant), await _member(admin_tenant)
    )
    delivery = await WebhookDelivery.get(redemption_id=redemption_id)
    await log_in(page, admin_tenant, f"webhooks/deliveries?endpoint={endpoint_id}")
    status = page.locator(f'tr[data-key="{delivery.id}"] [data-column="status"] .status')
    await expect(status).to_have_text("DELIVERED", timeout=SLOW_MS)  # the worker is done with it
    await WebhookDelivery.filter(id=delivery.id).update(
        status=DeliveryStatus.DEAD, attempt_count=8, next_attempt_at=None, last_status_code=500
    )
    await go(page, "webhooks")
    card = page.locator(f'section.endpoint[data-url="{receiver.url}/{path}"]')

    # when staff ping it
    await card.get_by_role("button", name="Ping").click()
    # then a ping is sent to the receiver
    await expect(card.get_by_role("status")).to_have_text("Ping sent: see the delivery log.")

    # when they list the DEAD deliveries
    await page.get_by_role("link", name="Dead deliveries →").click()
    rows = page.locator("admin-table tbody tr")
    # then only the dead one is listed
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator('[data-column="status"] .status')).to_have_text("DEAD")
    await shoot(page, "dead-deliveries", full_page=True)

    # when they replay the endpoint's dead deliveries since an hour ago
    since = page.locator("admin-form").nth(1)
    await since.get_by_label("Endpoint").select_option(endpoint_id)
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    await since.get_by_label("Dead deliveries created since (UTC)").fill(hour_ago)
    await page.get_by_role("button", name="Replay dead deliveries").click()

    # then it is queued again and delivered
    await expect(
        page.get_by_role("status").filter(has_text="1 delivery queued again.")
    ).to_be_visible()
    await go(page, f"webhooks/deliveries?endpoint={endpoint_id}")
    await expect(status).to_have_text("DELIVERED", timeout=SLOW_MS)
    assert [r["body"].get("event") for r in receiver.received(path)].count("ping") == 1

    # when they disable the endpoint
    await go(page, "webhooks")
    await card.get_by_role("button", name="Disable").click()
    # then it says so, and can be enabled again
    await expect(card.locator(".status")).to_have_text("DISABLED")
    await expect(card.get_by_role("button", name="Enable")).to_be_visible()


async def test_members_are_searched_and_rewards_archived(
    page: Page, admin_tenant: AdminTenant
) -> None:
    # given two members and a reward
    ann, bob = await _member(admin_tenant), await _member(admin_tenant)
    await admin_tenant.backend(
        'mutation($e: String!) { upsertMember(input: {externalUserId: $e, email: "bob@shop.test",'
        ' name: "Bob Tran"}) { member { id } errors { code } } }',
        {"e": bob},
    )
    reward_id = await _reward(admin_tenant, name="Old mug")
    await log_in(page, admin_tenant, "members")
    rows = page.locator("admin-table tbody tr")
    await expect(rows).to_have_count(2)

    # when staff search by part of an email
    await page.get_by_label("Search members").fill("BOB@shop")
    await page.get_by_role("button", name="Search").click()

    # then only that member is listed, and opens its card
    await expect(rows).to_have_count(1)
    await rows.first.get_by_role("link", name=bob).click()
    await expect(page.locator("main h1")).to_have_text(f"Member {bob}")
    assert ann != bob

    # when they archive a reward
    await go(page, f"rewards/{reward_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Archive").click()

    # then it leaves the list, and shows among the archived ones
    await expect(page.locator("main h1")).to_have_text("Rewards")
    await expect(page.get_by_text("No active rewards.")).to_be_visible()
    await page.get_by_label("Show archived").check()
    await expect(rows.first).to_contain_text("Old mug")
    await expect(rows.first.locator(".status")).to_have_text("ARCHIVED")


async def test_the_member_card_says_when_the_master_cannot_be_read(
    page: Page, admin_tenant: AdminTenant, receiver: Receiver
) -> None:
    # given a follower tenant whose master answers 500
    tid = admin_tenant.tenant_id
    receiver.reply(f"broken-{tid}/shop-9", 500, {"error": "maintenance"})
    await admin_tenant.admin(
        'mutation { setPointMode(mode: FOLLOWER_BALANCE, reason: "CRM") { mode errors { code } } }'
    )
    await admin_tenant.admin(
        "mutation($log: String!) { setPointMasterSettings(input: {pointsLogUrl: $log})"
        " { settings { pointsLogUrl } errors { code message } } }",
        {"log": f"{receiver.url}/broken-{tid}/{{contactId}}"},
    )
    member = await admin_tenant.backend(
        'mutation { upsertMember(input: {externalUserId: "shop-9"}) { member { id } errors { code } } }'
    )

    # when staff open the member card
    await log_in(page, admin_tenant, f"members/{member['member']['id']}")

    # then the points log says, in words, that the master failed
    log = page.locator("#points-log")
    await expect(log.locator(".alert.error")).to_contain_text("(MASTER_ERROR)", timeout=SLOW_MS)
    await expect(log).to_contain_text("No copy of the points log yet.")


async def _call(tenant: AdminTenant, query: str, key: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=15, trust_env=False) as http:
        response = await http.post(
            tenant.engine.graphql_url,
            json={"query": query},
            headers={"Authorization": f"Bearer {key}"},
        )
    body: dict[str, Any] = response.json()
    return body


async def test_every_screen_renders_without_a_console_error(
    page: Page, admin_tenant: AdminTenant, receiver: Receiver, shoot: Shooter
) -> None:
    # given a tenant with a reward, a member, an endpoint and a redemption
    reward_id = await _reward(admin_tenant)
    ext = await _member(admin_tenant)
    await _endpoint(admin_tenant, receiver, f"ok-{admin_tenant.tenant_id}")
    redemption_id = await _redeem(admin_tenant, reward_id, ext)
    member_id = (
        await admin_tenant.backend(
            "query($e: String) { member(externalUserId: $e) { id } }", {"e": ext}
        )
    )["id"]
    screens = {
        "dashboard": "dashboard",
        "redemptions": "redemptions",
        f"redemptions/{redemption_id}": "redemption-detail",
        "rewards": "rewards",
        "rewards/new": "reward-new",
        f"rewards/{reward_id}": "reward-edit",
        "members": "members",
        f"members/{member_id}": "member-card",
        "webhooks": "webhooks",
        "webhooks/deliveries": "delivery-log",
        "point-master": "point-master",
        "settings": "settings",
    }
    await page.set_viewport_size({"width": 1280, "height": 860})
    await log_in(page, admin_tenant)
    for width, label in ((1280, "desktop"), (820, "tablet")):
        await page.set_viewport_size({"width": width, "height": 1100})
        for route, name in screens.items():
            # when staff open each screen
            await go(page, route)
            await page.wait_for_load_state("networkidle")
            # then it shows no error (the page fixture fails the test on any console error)
            await expect(page.locator("main .alert.error:visible")).to_have_count(0)
            await shoot(page, f"{label}-{name}", full_page=True)
