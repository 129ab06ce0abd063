"""Voucher code pools: uploads, generation, draws by redemptions, expiry, return and burn."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from core import clock
from core.errors import InvalidInput, NotFound, Refused
from models.catalog.code_pools import (
    CodeEntry,
    CodePattern,
    add_codes,
    attach_pool,
    burn_codes,
    generate_codes,
    pool_of,
    pool_stats,
)
from models.catalog.tables import VoucherCode, VoucherCodeStatus
from models.points.tables import LedgerEntry, PointAccount
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import (
    Redemption,
    RedemptionEvent,
    RedemptionEventKind,
    RedemptionStatus,
)
from models.webhooks.tables import PayloadFormat, WebhookDelivery
from tests.factories import make_member, make_reward, make_tenant


async def pooled_reward(codes: list[str], **reward_fields: object) -> tuple:
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=100, **reward_fields)
    await add_codes(t.tenant.id, reward.id, [CodeEntry(c) for c in codes])
    return t, reward


async def test_upload_counts_added_duplicates_and_invalid(db: str) -> None:
    # given a reward whose pool has one code
    t, reward = await pooled_reward(["A-1"])
    past = clock.now() - timedelta(days=1)
    # when an upload repeats it, repeats a code of its own, and has bad entries
    upload = await add_codes(
        t.tenant.id,
        reward.id,
        [
            CodeEntry("A-1"),
            CodeEntry("B-2"),
            CodeEntry(" B-2 "),
            CodeEntry("C-3", clock.now() + timedelta(days=30)),
            CodeEntry(""),
            CodeEntry("has space"),
            CodeEntry("x" * 101),
            CodeEntry("OLD-1", past),
        ],
    )
    # then
    assert (upload.added, upload.duplicates, upload.invalid) == (2, 2, 4)
    pool = await pool_of(t.tenant.id, reward.id)
    assert pool is not None
    stats = await pool_stats(pool)
    assert (stats.size, stats.free, stats.used, stats.burnt) == (3, 3, 0, 0)


async def test_upload_of_more_than_100000_codes_is_refused_whole(db: str) -> None:
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=1)
    with pytest.raises(InvalidInput) as refused:
        await add_codes(t.tenant.id, reward.id, [CodeEntry(f"C{n}") for n in range(100_001)])
    assert (refused.value.field, refused.value.code) == ("codes", "INVALID")
    assert await VoucherCode.all().count() == 0


async def test_a_foreign_reward_is_not_found(db: str) -> None:
    _, reward = await pooled_reward(["A-1"])
    other = await make_tenant()
    with pytest.raises(NotFound) as refused:
        await add_codes(other.tenant.id, reward.id, [CodeEntry("X")])
    assert refused.value.code == "NOT_FOUND"


async def test_generated_codes_follow_the_pattern_and_are_distinct(db: str) -> None:
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=1)
    upload = await generate_codes(
        t.tenant.id, reward.id, 500, CodePattern("SUMMER-######", charset="0123456789ABCDEF")
    )
    assert upload.added == 500
    codes = await VoucherCode.all().values_list("code", flat=True)
    assert len(set(codes)) == 500
    assert all(re.fullmatch(r"SUMMER-[0-9A-F]{6}", c) for c in codes)
    plain = await generate_codes(t.tenant.id, reward.id, 10, CodePattern(length=16))
    assert plain.added == 10


@pytest.mark.parametrize(
    ("pattern", "count", "field"),
    [
        (CodePattern("SUMMER-####", charset="0123456789"), 5, "pattern"),  # 10^4 codes
        (CodePattern("NO-SLOTS"), 5, "pattern"),
        (CodePattern(charset="A"), 5, "charset"),
        (CodePattern(charset="AB C"), 5, "charset"),
        (CodePattern(length=3), 5, "length"),
        (CodePattern(), 0, "count"),
        (CodePattern(), 100_001, "count"),
    ],
)
async def test_guessable_or_malformed_generation_is_refused(
    db: str, pattern: CodePattern, count: int, field: str
) -> None:
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=1)
    with pytest.raises(InvalidInput) as refused:
        await generate_codes(t.tenant.id, reward.id, count, pattern)
    assert (refused.value.field, refused.value.code) == (field, "INVALID")
    assert await VoucherCode.all().count() == 0


async def test_redeeming_a_pooled_reward_fulfils_it_with_a_code(db: str) -> None:
    # given a reward with two codes and a member with points for three
    t, reward = await pooled_reward(["FIRST", "SECOND"])
    member = await make_member(t.tenant.id, points=300)
    # when the member redeems it
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    # then it is fulfilled at once with the first code, now assigned to it
    assert redemption.status == RedemptionStatus.FULFILLED
    assert redemption.fulfillment_data == {"code": "FIRST"}
    assert redemption.fulfilled_at is not None
    stored = await Redemption.get(id=redemption.id)
    assert (stored.status, stored.fulfillment_data) == ("FULFILLED", {"code": "FIRST"})
    code = await VoucherCode.get(code="FIRST")
    assert (code.status, code.redemption_id) == (VoucherCodeStatus.ASSIGNED, redemption.id)
    kinds = [
        (e.kind, e.to_status)
        for e in await RedemptionEvent.filter(redemption_id=redemption.id).order_by("id")
    ]
    assert kinds == [
        ("REDEEM_REQUESTED", "REDEEMED"),
        ("POINTS_WITHDRAWN", None),
        ("STATUS_CHANGED", "FULFILLED"),
    ]
    # and the code is on no event of the timeline
    events = await RedemptionEvent.filter(redemption_id=redemption.id).values_list("data")
    assert "FIRST" not in repr(events)


async def test_an_empty_pool_refuses_and_writes_nothing(db: str) -> None:
    # given a pool with one code, drawn already
    t, reward = await pooled_reward(["ONLY"])
    member = await make_member(t.tenant.id, points=300)
    await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    # when the member redeems again
    with pytest.raises(Refused) as refused:
        await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    # then it is OUT_OF_STOCK, and no points, redemption or event were written for it
    assert refused.value.code == "OUT_OF_STOCK"
    assert (await PointAccount.get(member_id=member.id)).balance == 200
    assert await Redemption.filter(member_id=member.id).count() == 1
    assert await LedgerEntry.filter(account__member_id=member.id).count() == 2


async def test_a_quantity_draws_as_many_codes_or_none(db: str) -> None:
    t, reward = await pooled_reward(["A", "B", "C"])
    member = await make_member(t.tenant.id, points=1000)
    with pytest.raises(Refused):
        await redeem(RedeemRequest(t.tenant.id, member.id, reward.id, quantity=4))
    assert await VoucherCode.filter(status=VoucherCodeStatus.FREE).count() == 3
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id, quantity=2))
    assert redemption.fulfillment_data == {"codes": ["A", "B"]}


async def test_expired_codes_are_skipped(db: str) -> None:
    # given a pool whose first code expires in an hour
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=100)
    soon = clock.now() + timedelta(hours=1)
    await add_codes(t.tenant.id, reward.id, [CodeEntry("SOON", soon), CodeEntry("LATER")])
    member = await make_member(t.tenant.id, points=300)
    # when a redemption comes two hours later
    with clock.frozen_at(clock.now() + timedelta(hours=2)):
        redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
        pool = await pool_of(t.tenant.id, reward.id)
        assert pool is not None
        stats = await pool_stats(pool)
    # then the expired code was passed over, and counts as expired, not free
    assert redemption.fulfillment_data == {"code": "LATER"}
    assert (stats.free, stats.used, stats.expired) == (0, 1, 1)


async def test_a_failed_redemption_returns_its_code_unless_burnt(db: str) -> None:
    # given two pooled redemptions that a fulfilment backend still has to confirm (the pool
    # was attached while they waited: the lifecycle path for codes of a failing redemption)
    t, reward = await pooled_reward(["KEEP", "BURN"])
    member = await make_member(t.tenant.id, points=300)
    first = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    second = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    await Redemption.filter(id__in=[first.id, second.id]).update(status=RedemptionStatus.REDEEMED)
    # when the admin burns the second code, and both redemptions fail
    assert await burn_codes(t.tenant.id, reward.id, ["BURN"]) == 1
    for r in (first, second):
        await transition(t.tenant.id, r.id, RedemptionStatus.FAILED, Via.ADMIN, actor="admin")
    # then the first code is free again, the burnt one stays out of the pool
    assert (await VoucherCode.get(code="KEEP")).status == VoucherCodeStatus.FREE
    assert (await VoucherCode.get(code="BURN")).status == VoucherCodeStatus.BURNT
    returned = await RedemptionEvent.filter(
        redemption_id=first.id, kind=RedemptionEventKind.STOCK_RETURNED
    ).count()
    assert returned == 1
    again = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    assert again.fulfillment_data == {"code": "KEEP"}


async def test_the_pool_falls_below_its_threshold_once(db: str, tenant_endpoint: object) -> None:
    # given a pool of 5 with a threshold of 3, and an endpoint for reward.low_stock
    t, reward = tenant_endpoint  # type: ignore[misc]
    await attach_pool(t.tenant.id, reward.id, low_stock_threshold=3)
    member = await make_member(t.tenant.id, points=10_000)
    # when five redemptions drain it
    for _ in range(5):
        await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    # then one reward.low_stock was written, when 2 were left
    sent = await WebhookDelivery.filter(event="reward.low_stock")
    assert len(sent) == 1
    body = sent[0].payload
    assert {k: body[k] for k in ("event", "reward_id", "remaining", "threshold", "source")} == {
        "event": "reward.low_stock",
        "reward_id": str(reward.id),
        "remaining": 2,
        "threshold": 3,
        "source": "code_pool",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])
    # and after a refill above the threshold, the next dip is announced again
    await add_codes(t.tenant.id, reward.id, [CodeEntry(f"R{n}") for n in range(3)])
    await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    assert await WebhookDelivery.filter(event="reward.low_stock").count() == 2


@pytest.fixture
async def tenant_endpoint(db: str) -> tuple:
    from models.webhooks.endpoints import create_endpoint

    t, reward = await pooled_reward([f"C{n}" for n in range(5)])
    await create_endpoint(
        t.tenant.id,
        "http://127.0.0.1:9/hooks",
        ["reward.low_stock"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    return t, reward
