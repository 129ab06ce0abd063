"""The redemption state machine as a tenant backend and an admin see it."""

from __future__ import annotations

import itertools
from typing import Any
from uuid import UUID

import pytest

from core.errors import Conflict, NotFound, Refused
from models.catalog.tables import Reward
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent, RedemptionEventKind
from models.redemptions.tables import RedemptionStatus as S
from tests.factories import make_member, make_reward, make_tenant

TERMINAL = {S.FULFILLED, S.FAILED}

# The lifecycle of DESIGN.md, written out independently of models.redemptions.lifecycle.ALLOWED.
EXPECTED_ALLOWED = {
    (Via.CALLBACK, S.REDEEMED, S.FULFILLED),
    (Via.CALLBACK, S.REDEEMED, S.FAILED),
    (Via.CALLBACK, S.REDEEMED, S.POSTPONED),
    (Via.CALLBACK, S.REDEEMED, S.RECOVERABLE_FAILURE),
    (Via.CALLBACK, S.POSTPONED, S.FULFILLED),
    (Via.CALLBACK, S.POSTPONED, S.FAILED),
    (Via.PROVIDER, S.REDEEMED, S.FULFILLED),
    (Via.PROVIDER, S.REDEEMED, S.POSTPONED),
    (Via.ADMIN, S.REDEEMED, S.FULFILLED),
    (Via.ADMIN, S.REDEEMED, S.FAILED),
    (Via.ADMIN, S.POSTPONED, S.FULFILLED),
    (Via.ADMIN, S.POSTPONED, S.FAILED),
    (Via.ADMIN, S.RECOVERABLE_FAILURE, S.FULFILLED),
    (Via.ADMIN, S.RECOVERABLE_FAILURE, S.FAILED),
}

COST = 200


async def _redeemed(
    points: int = 500, cost: int = 200, **reward_fields: Any
) -> tuple[UUID, Redemption]:
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=points)
    reward = await make_reward(t.tenant.id, point_cost=cost, **reward_fields)
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    return t.tenant.id, redemption


async def _drive_to(tenant_id: UUID, redemption: Redemption, status: S) -> None:
    """Reach `status` the way production does: through a fulfilment callback."""
    if status != S.REDEEMED:
        data = {"code": "SETUP-1"} if status == S.FULFILLED else None
        await transition(tenant_id, redemption.id, status, Via.CALLBACK, actor="setup", data=data)


async def _state(redemption: Redemption) -> dict[str, Any]:
    fresh = await Redemption.get(id=redemption.id)
    account = await PointAccount.get(member_id=redemption.member_id)
    reward = await Reward.get(id=redemption.reward_id)
    return {
        "status": fresh.status,
        "fulfillment_data": fresh.fulfillment_data,
        "refunded_at": fresh.refunded_at,
        "events": await RedemptionEvent.filter(redemption_id=redemption.id).count(),
        "entries": await LedgerEntry.filter(account_id=account.id).count(),
        "balance": account.balance,
        "stock": reward.stock,
    }


async def _check_transition(redemption: Redemption, via: Via, current: S, target: S) -> None:
    tenant_id = redemption.tenant_id
    before = await _state(redemption)
    assert before["status"] == current
    if current == target:
        # a repeated status report is a no-op whoever sends it
        result = await transition(tenant_id, redemption.id, target, via, actor="someone")
        assert not result.changed
        assert await _state(redemption) == before
    elif (via, current, target) in EXPECTED_ALLOWED:
        result = await transition(
            tenant_id, redemption.id, target, via, actor="admin@shop.test", reason="because"
        )
        assert result.changed
        assert result.from_status == current
        after = await _state(redemption)
        assert after["status"] == target
        event = (
            await RedemptionEvent.filter(
                redemption_id=redemption.id, kind=RedemptionEventKind.STATUS_CHANGED
            )
            .order_by("-id")
            .first()
        )
        assert event is not None
        assert (event.from_status, event.to_status) == (current, target)
        assert event.actor == "admin@shop.test"
        assert event.data is not None
        assert (event.data["via"], event.data["reason"]) == (via.value, "because")
        if target == S.FAILED:
            # status change + points refunded + stock returned
            assert after["events"] == before["events"] + 3
            assert (after["entries"], after["balance"]) == (
                before["entries"] + 1,
                before["balance"] + COST,
            )
            assert after["stock"] == before["stock"] + 1
            assert after["refunded_at"] is not None
        else:
            assert after["events"] == before["events"] + 1
            assert (after["entries"], after["balance"]) == (before["entries"], before["balance"])
            assert (after["stock"], after["refunded_at"]) == (before["stock"], None)
    else:
        with pytest.raises(Conflict) as exc:
            await transition(tenant_id, redemption.id, target, via, actor="someone")
        expected = "ALREADY_FINAL" if current in TERMINAL else "INVALID_TRANSITION"
        assert (exc.value.code, exc.value.field) == (expected, "status")
        assert await _state(redemption) == before


@pytest.mark.parametrize("current", list(S), ids=[s.value for s in S])
async def test_every_transition_is_either_allowed_or_refused(
    db: str, subtests: pytest.Subtests, current: S
) -> None:
    # given: one member and reward; a fresh redemption per (via, target), driven to `current`
    t = await make_tenant()
    cases = list(itertools.product(Via, S))
    member = await make_member(t.tenant.id, points=COST * len(cases))
    reward = await make_reward(t.tenant.id, point_cost=COST, stock=len(cases))
    for via, target in cases:
        case = f"{via.value}: {current.value} -> {target.value}"
        with subtests.test(msg=case):
            redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
            await _drive_to(t.tenant.id, redemption, current)
            # when / then (the case named in the failure's one-line summary too)
            try:
                await _check_transition(redemption, via, current, target)
            except AssertionError as exc:
                raise AssertionError(f"{case}: {exc}") from exc


async def test_failed_refunds_points_returns_stock_and_frees_the_member_limit(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=500)
    reward = await make_reward(t.tenant.id, point_cost=200, stock=3, per_member_limit=1)
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    with pytest.raises(Refused) as limit:
        await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    assert limit.value.code == "LIMIT_REACHED"
    # when
    await transition(
        t.tenant.id, redemption.id, S.FAILED, Via.CALLBACK, actor="backend", reason="no stock"
    )
    # then
    account = await PointAccount.get(member_id=member.id)
    assert account.balance == 500
    refund = await LedgerEntry.get(redemption_id=redemption.id, source=LedgerSource.REFUND)
    assert (refund.amount, refund.balance_before, refund.balance_after) == (200, 300, 500)
    assert refund.actor == "backend"
    events = {e.kind: e for e in await RedemptionEvent.filter(redemption_id=redemption.id)}
    refunded = events[RedemptionEventKind.POINTS_REFUNDED]
    assert refunded.data is not None
    assert refunded.data["amount"] == 200
    assert (refunded.data["balanceBefore"], refunded.data["balanceAfter"]) == (300, 500)
    assert refunded.data["ledgerEntryId"] == str(refund.id)
    restocked = events[RedemptionEventKind.STOCK_RETURNED]
    assert restocked.data == {"quantity": 1, "stockAfter": 3}
    await reward.refresh_from_db()
    assert reward.stock == 3
    # the limit of one is free again
    again = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    assert again.status == S.REDEEMED


async def test_admin_cancel_of_a_recoverable_failure_refunds_once(db: str) -> None:
    # given
    tenant_id, redemption = await _redeemed(points=500, cost=200)
    await transition(tenant_id, redemption.id, S.RECOVERABLE_FAILURE, Via.CALLBACK, actor="cb")
    assert (await PointAccount.get(member_id=redemption.member_id)).balance == 300
    # when
    await transition(tenant_id, redemption.id, S.FAILED, Via.ADMIN, actor="admin")
    await transition(tenant_id, redemption.id, S.FAILED, Via.CALLBACK, actor="cb")
    # then
    assert (await PointAccount.get(member_id=redemption.member_id)).balance == 500
    assert await LedgerEntry.filter(source=LedgerSource.REFUND).count() == 1


async def test_failing_a_reward_with_unlimited_stock_returns_no_stock(db: str) -> None:
    # given
    tenant_id, redemption = await _redeemed(points=500, cost=200)
    # when
    await transition(tenant_id, redemption.id, S.FAILED, Via.CALLBACK, actor="cb")
    # then
    reward = await Reward.get(id=redemption.reward_id)
    assert reward.stock is None
    kinds = {e.kind for e in await RedemptionEvent.filter(redemption_id=redemption.id)}
    assert RedemptionEventKind.POINTS_REFUNDED in kinds
    assert RedemptionEventKind.STOCK_RETURNED not in kinds


async def test_fulfilled_keeps_the_voucher_code(db: str) -> None:
    # given
    tenant_id, redemption = await _redeemed()
    voucher = {"voucherCode": "ABC-123", "expires": "2030-01-01"}
    # when
    result = await transition(
        tenant_id, redemption.id, S.FULFILLED, Via.CALLBACK, actor="backend", data=voucher
    )
    # then
    assert result.redemption.fulfillment_data == voucher
    stored = await Redemption.get(id=redemption.id)
    assert stored.status == S.FULFILLED
    assert stored.fulfillment_data == voucher
    event = await RedemptionEvent.get(
        redemption_id=redemption.id, kind=RedemptionEventKind.STATUS_CHANGED
    )
    assert event.data is not None and event.data["data"] == voucher


async def test_an_identical_repeated_callback_is_a_no_op(db: str) -> None:
    # given
    tenant_id, redemption = await _redeemed()
    voucher = {"voucherCode": "ABC-123"}
    await transition(tenant_id, redemption.id, S.FULFILLED, Via.CALLBACK, actor="cb", data=voucher)
    events = await RedemptionEvent.filter(redemption_id=redemption.id).count()
    # when
    result = await transition(
        tenant_id, redemption.id, S.FULFILLED, Via.CALLBACK, actor="cb", data=dict(voucher)
    )
    # then
    assert not result.changed
    assert result.redemption.fulfillment_data == voucher
    assert await RedemptionEvent.filter(redemption_id=redemption.id).count() == events


async def test_a_contradicting_callback_is_refused(db: str) -> None:
    # given
    tenant_id, redemption = await _redeemed()
    await transition(
        tenant_id, redemption.id, S.FULFILLED, Via.CALLBACK, actor="cb", data={"code": "A"}
    )
    events = await RedemptionEvent.filter(redemption_id=redemption.id).count()
    # when
    with pytest.raises(Conflict) as exc:
        await transition(
            tenant_id, redemption.id, S.FULFILLED, Via.CALLBACK, actor="cb", data={"code": "B"}
        )
    # then
    assert exc.value.code == "CONTRADICTING_CALLBACK"
    stored = await Redemption.get(id=redemption.id)
    assert stored.fulfillment_data == {"code": "A"}
    assert await RedemptionEvent.filter(redemption_id=redemption.id).count() == events


async def test_a_foreign_tenant_cannot_see_or_move_a_redemption(db: str) -> None:
    # given
    tenant_id, redemption = await _redeemed()
    other = await make_tenant()
    # when
    with pytest.raises(NotFound):
        await transition(other.tenant.id, redemption.id, S.FAILED, Via.ADMIN, actor="intruder")
    # then
    stored = await Redemption.get(id=redemption.id)
    assert stored.tenant_id == tenant_id
    assert stored.status == S.REDEEMED
    assert await LedgerEntry.filter(source=LedgerSource.REFUND).count() == 0
