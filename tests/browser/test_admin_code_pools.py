"""A reward's voucher codes in the admin console and the member's widget, in a real browser
against a real `gamify serve`: staff paste, upload and generate codes, set the low-stock
alert, export the pool; a member redeems and reads the code it drew."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from models.tenancy.origins import set_tenant_origins
from tests.browser.admin_fixtures import (  # noqa: F401 (fixtures, by their names)
    AdminTenant,
    admin_tenant_fixture,
    go,
    log_in,
)
from tests.browser.conftest import Shooter, Site, open_widget

pytestmark = pytest.mark.browser


async def _pooled_reward(tenant: AdminTenant, name: str) -> str:
    created = await tenant.admin(
        "mutation($n: String!) { createReward(input: {name: $n, type: VOUCHER,"
        ' value: "20% off", pointCost: 100}) { reward { id } errors { code } } }',
        {"n": name},
    )
    reward_id: str = created["reward"]["id"]
    return reward_id


async def _member(tenant: AdminTenant, points: int = 1000) -> str:
    ext = f"shop-{uuid.uuid4().hex[:6]}"
    await tenant.backend(
        'mutation($e: String!) { upsertMember(input: {externalUserId: $e, name: "Lan Nguyen"})'
        " { member { id } errors { code } } }",
        {"e": ext},
    )
    await tenant.backend(
        "mutation($e: String!, $n: Int!) { awardPoints(input: {externalUserId: $e, amount: $n,"
        ' source: PURCHASE, description: "Order 1001"}) { entry { id } errors { code } } }',
        {"e": ext, "n": points},
    )
    return ext


def count(page: Page, key: str):  # type: ignore[no-untyped-def]
    return page.locator(f'admin-code-pool [data-count="{key}"] .n')


async def test_staff_fill_a_pool_watch_its_counts_and_export_it(
    page: Page, admin_tenant: AdminTenant, shoot: Shooter, tmp_path: Path
) -> None:
    # given a reward without codes, and staff on its screen
    reward_id = await _pooled_reward(admin_tenant, "Summer sale voucher")
    await log_in(page, admin_tenant, f"rewards/{reward_id}")
    pool = page.locator("admin-code-pool")
    await expect(pool).to_have_attribute("data-state", "none")
    await expect(pool).to_contain_text("No codes yet")

    # when they paste codes, one twice and one with a space
    await pool.get_by_label("Paste codes").fill("PASTE-1\nPASTE-2\nPASTE-1\nbad code")
    await pool.get_by_role("button", name="Add pasted codes").click()
    # then the upload says what it did, and the counts show the pool
    result = pool.locator("#pool-result")
    await expect(result).to_have_text(
        "Added 2 codes. 1 duplicate skipped. "
        "1 invalid line skipped (empty, spaces, too long or expired)."
    )
    await expect(count(page, "size")).to_have_text("2")

    # when they upload a CSV file
    await pool.get_by_label("Or a CSV file").set_input_files(
        files=[
            {
                "name": "codes.csv",
                "mimeType": "text/csv",
                "buffer": b"code,expires_at\nFILE-1,2099-12-31T00:00:00Z\nFILE-2,\nPASTE-2,\n",
            }
        ]
    )
    await pool.get_by_role("button", name="Upload file").click()
    await expect(result).to_have_text("Added 2 codes. 1 duplicate skipped.")
    await expect(count(page, "size")).to_have_text("4")

    # when they generate codes from a pattern, and refuse a guessable one on the way
    await pool.get_by_label("How many").fill("20")
    await pool.get_by_label("Pattern").fill("SUMMER-##")
    await pool.get_by_role("button", name="Generate").click()
    await expect(pool.locator("#pool-problem")).to_contain_text("too few")
    await pool.get_by_label("Pattern").fill("SUMMER-########")
    await pool.get_by_role("button", name="Generate").click()
    await expect(result).to_have_text("Generated 20 codes.")
    await expect(count(page, "size")).to_have_text("24")
    await expect(count(page, "free")).to_have_text("24")

    # when they set the low-stock alert, and a member redeems the reward
    await pool.get_by_label("Send reward.low_stock below").fill("5")
    await pool.get_by_role("button", name="Save threshold").click()
    await expect(result).to_have_text("reward.low_stock will be sent below 5 free codes.")
    ext = await _member(admin_tenant)
    redeemed = await admin_tenant.backend(
        "mutation($r: ID!, $e: String!) { redeemReward(rewardId: $r, externalUserId: $e) {"
        " redemption { status fulfillmentData } errors { code } } }",
        {"r": reward_id, "e": ext},
    )
    assert redeemed["redemption"] == {"status": "FULFILLED", "fulfillmentData": {"code": "PASTE-1"}}
    await go(page, "rewards")
    await go(page, f"rewards/{reward_id}")
    # then the counts show the code used
    await expect(count(page, "used")).to_have_text("1")
    await expect(count(page, "free")).to_have_text("23")
    await expect(pool.get_by_label("Send reward.low_stock below")).to_have_value("5")
    await shoot(page, "code-pool", full_page=True)

    # when they export the pool
    async with page.expect_download() as download_info:
        await pool.get_by_role("link", name="Export codes (CSV)").click()
    download = await download_info.value
    saved = tmp_path / "export.csv"
    await download.save_as(saved)
    # then the file has every code, in upload order, with its status
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert len(rows) == 24
    assert [(r["code"], r["status"]) for r in rows[:4]] == [
        ("PASTE-1", "ASSIGNED"),
        ("PASTE-2", "FREE"),
        ("FILE-1", "FREE"),
        ("FILE-2", "FREE"),
    ]
    assert rows[2]["expires_at"].startswith("2099-12-31")
    assert all(r["code"].startswith("SUMMER-") for r in rows[4:])


async def test_a_member_redeems_in_the_widget_and_reads_its_code(
    page: Page, admin_tenant: AdminTenant, shop_site: Site, shoot: Shooter
) -> None:
    # given a pooled reward with one code, on the shop's page
    reward_id = await _pooled_reward(admin_tenant, "Cinema ticket")
    await admin_tenant.admin(
        'mutation($r: ID!) { uploadVoucherCodes(rewardId: $r, codes: [{code: "CINE-4711"}])'
        " { added errors { code } } }",
        {"r": reward_id},
    )
    await set_tenant_origins(admin_tenant.tenant_id, [shop_site.origin])
    ext = await _member(admin_tenant)
    minted = await admin_tenant.backend(
        "mutation($e: String!) { createMemberToken(externalUserId: $e) { token } }", {"e": ext}
    )
    await open_widget(page, shop_site, minted["token"])
    widget = page.locator("gamify-rewards")
    # when the member redeems it
    await widget.get_by_role("button", name="Redeem Cinema ticket").click()
    await widget.get_by_role("button", name="Yes, redeem").click()
    # then the widget shows the code it drew, at once
    await expect(widget.locator('[part="voucher-code"]').first).to_have_text("CINE-4711")
    # and the reward, its only code drawn, is out of stock
    await expect(widget.get_by_text("Out of stock")).to_be_visible()
    await shoot(page, "widget-code", full_page=True)
