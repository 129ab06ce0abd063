"""The loyalty programme in the admin console, in a real browser against a real engine:
the Reports screen (SVG charts, CSV downloads) and the member card's tier panel (status,
history, override, policy). Screenshots are kept."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Page, expect

from tests.browser.admin_fixtures import (  # noqa: F401 (fixtures, by their names)
    AdminTenant,
    admin_tenant_fixture,
    go,
    log_in,
)
from tests.browser.conftest import Shooter

pytestmark = pytest.mark.browser

UPSERT = (
    'mutation($e: String!) { upsertMember(input: {externalUserId: $e, name: "Lan Nguyen"})'
    " { member { id } errors { code } } }"
)
AWARD = (
    "mutation($e: String!, $n: Int!, $s: LedgerSource!) { awardPoints(input: {externalUserId:"
    " $e, amount: $n, source: $s}) { entry { id } errors { code } } }"
)


async def _member(tenant: AdminTenant, *awards: tuple[int, str]) -> str:
    ext = f"shop-{uuid.uuid4().hex[:6]}"
    member = await tenant.backend(UPSERT, {"e": ext})
    for amount, source in awards:
        await tenant.backend(AWARD, {"e": ext, "n": amount, "s": source})
    member_id: str = member["member"]["id"]
    return member_id


async def test_reports_draw_charts_and_download_csv(
    page: Page, admin_tenant: AdminTenant, shoot: Shooter
) -> None:
    # given a tenant whose members earned points (purchases and a bonus) and redeemed once
    await _member(admin_tenant, (1200, "PURCHASE"), (300, "BONUS"))
    ext_member = await _member(admin_tenant, (800, "PURCHASE"))
    reward = await admin_tenant.admin(
        'mutation { createReward(input: {name: "Coffee voucher", type: VOUCHER, value: "1",'
        " pointCost: 250, stock: 10}) { reward { id } errors { code } } }"
    )
    await admin_tenant.backend(
        "mutation($r: ID!, $m: ID!) { redeemReward(rewardId: $r, memberId: $m) {"
        " redemption { id } errors { code } } }",
        {"r": reward["reward"]["id"], "m": ext_member},
    )

    # when staff open the Reports screen
    await log_in(page, admin_tenant, "reports")

    # then the liability and the day's earned and spent points are drawn as bars
    await expect(page.locator("#liability-chart rect")).to_have_count(2)
    await expect(page.locator("#liability")).to_contain_text("2,050")
    await expect(page.locator('#daily-chart rect[data-kind="earned"]')).to_have_count(1)
    earned = page.locator('#daily-chart rect[data-kind="earned"] title')
    await expect(earned).to_contain_text("2,300 earned")
    await expect(page.locator('#daily-chart rect[data-kind="spent"] title')).to_contain_text(
        "250 spent"
    )
    await expect(page.locator("#by-reward")).to_contain_text("Coffee voucher")
    await expect(page.locator("#sources tbody tr")).to_have_count(2)
    await shoot(page, "reports", full_page=True)

    # when they download the liability and every posting as CSV
    async with page.expect_download() as liability_file:
        await page.locator('[data-csv="liability"]').click()
    async with page.expect_download() as ledger_file:
        await page.locator('[data-csv="ledger"]').click()

    # then the files hold the same figures
    liability_csv = (await (await liability_file.value).path()).read_text()
    assert liability_csv.splitlines()[0] == "point_definition,definition_id,active,pending,total,at"
    assert liability_csv.splitlines()[1].startswith("points,1,2050,0,2050,")
    ledger_csv = (await (await ledger_file.value).path()).read_text().splitlines()
    assert len(ledger_csv) == 1 + 4  # header, three awards, one redemption


async def test_the_member_card_shows_the_computed_tier_its_history_and_an_override(
    page: Page, admin_tenant: AdminTenant, shoot: Shooter
) -> None:
    # given Silver from 1,000 points and Gold from 5,000, computed over 12 months
    for name, rank, threshold in (("Silver", 1, 1000), ("Gold", 2, 5000)):
        await admin_tenant.admin(
            "mutation($n: String!, $r: Int!, $m: Int) { saveTier(input: {name: $n, rank: $r,"
            " minValue: $m}) { tier { id } errors { code } } }",
            {"n": name, "r": rank, "m": threshold},
        )
    await admin_tenant.admin(
        "mutation { saveTierPolicy(input: {enabled: true, graceDays: 30}) { errors { code } } }"
    )
    # and a member that earned 600 then 700 points (Silver at the second purchase)
    member_id = await _member(admin_tenant, (600, "PURCHASE"), (700, "PURCHASE"))

    # when staff open the member card
    await log_in(page, admin_tenant, f"members/{member_id}")

    # then its tier, activity, next review and the upgrade in its history are shown
    status = page.locator("#tier-status")
    await expect(status).to_contain_text("Silver")
    await expect(status).to_contain_text("1,300 points in the last 12 months")
    await expect(status).to_contain_text("3,700 more for Gold")
    await expect(page.locator("#tier-history tbody tr")).to_have_count(1)
    await expect(page.locator("#tier-history")).to_contain_text("UPGRADE")
    await shoot(page, "member-tier", full_page=True)

    # when they set Gold by hand with a reason
    await page.locator("#tier-override summary").click()
    override = page.locator("#tier-override admin-form")
    await override.get_by_label("Tier").select_option(label="Gold")
    await override.get_by_label("Reason (kept in the history)").fill("Goodwill after a lost parcel")
    await page.get_by_role("button", name="Set tier by hand").click()

    # then the card shows the override, and the history the manual change and its reason
    await expect(page.locator("#tier-history tbody tr")).to_have_count(2)
    await expect(page.locator("#tier-history tbody tr").first).to_contain_text(
        "Goodwill after a lost parcel"
    )
    await expect(status).to_contain_text("OVERRIDDEN")
    await expect(page.locator("#member-tier")).to_have_text("Gold")
    await page.locator("#tier-policy summary").click()
    await expect(page.locator("#tier-policy")).to_contain_text("Silver from 1,000, Gold from 5,000")
    await shoot(page, "member-tier-override", full_page=True)

    # when they end the override: the member is back to the tier its activity earns
    await page.locator("#clear-override").click()
    await expect(page.locator("#tier-history tbody tr")).to_have_count(3)
    await expect(page.locator("#tier-status")).to_contain_text("Silver")
    await expect(page.locator("#member-tier")).to_have_text("Silver")
    await shoot(page, "member-tier-override-ended", full_page=True)


async def test_settings_set_a_currencys_expiry_policy(
    page: Page, admin_tenant: AdminTenant, shoot: Shooter
) -> None:
    # given staff on the Settings screen
    await log_in(page, admin_tenant, "settings")
    expiry = page.locator("#currency-expiry")
    shown = page.locator('[data-currency="points"] [data-column="expiry"]')
    await expect(shown).to_have_text("Never")

    # when they ask for expiry N days after earning without N, the API's refusal is shown
    await expiry.get_by_label("Points awarded without a validTo").select_option("AFTER_DAYS")
    await page.get_by_role("button", name="Save expiry").click()
    await expect(expiry.locator('[data-field="expiryValue"] .error')).to_contain_text("INVALID")

    # when they make the points expire at the end of the month after earning
    await expiry.get_by_label("Points awarded without a validTo").select_option("END_OF_MONTH")
    await expiry.get_by_label("N (days, months or years)").fill("1")
    await page.get_by_role("button", name="Save expiry").click()
    # then the currency shows its policy (the screen is drawn anew)
    await expect(shown).to_have_text("End of the month of earning + 1 months")

    # and the API says the same
    definitions = await admin_tenant.admin("{ pointDefinitions { expiryPolicy expiryValue } }")
    assert definitions == [{"expiryPolicy": "END_OF_MONTH", "expiryValue": 1}]
    await shoot(page, "settings-expiry", full_page=True)
