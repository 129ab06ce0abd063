"""Tracking events: awards named after rule and event, re-sends, returns, pending and
expiring awards, caps at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from core import clock
from core.errors import Conflict, InvalidInput, NotFound, Refused
from models.points.tables import GrantStatus, LedgerEntry, LedgerSource, PointAccount, PointGrant
from models.programme.tables import AwardKind, MemberEvent, RuleAward
from tests.factories import make_member, make_tenant
from tests.programme.rules import make_rule, track

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


async def balance(member_id: UUID) -> int:
    account = await PointAccount.get_or_none(member_id=member_id)
    return account.balance if account else 0


async def test_a_purchase_earns_per_unit_and_the_entry_names_rule_and_event(db: str) -> None:
    # given a rule of 1 point per 10 currency units, rounded down, for purchases of 50 or more
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    rule = await make_rule(
        t.tenant.id,
        name="Spend and earn",
        award_kind=AwardKind.PER_UNIT,
        points=1,
        unit_amount="10",
        conditions={"all": [{"property": "amount", "op": "gte", "value": 50}]},
    )
    # when a purchase of 129.90 and one of 40 are tracked
    big = await track(t.tenant.id, member.external_user_id, "o-1", amount=129.9, orderId="o-1")
    small = await track(t.tenant.id, member.external_user_id, "o-2", amount=40, orderId="o-2")
    # then the first earned 12 points, the second nothing, and the ledger says why
    assert [a.points for a in big.awards] == [12] and small.awards == []
    entry = await LedgerEntry.get(id=big.awards[0].ledger_entry_id)
    assert entry.source == LedgerSource.PURCHASE and entry.amount == 12
    assert "Spend and earn" in entry.description and str(big.event.id) in entry.description
    assert str(rule.id) in entry.description and "o-1" in entry.description
    assert await balance(member.id) == 12


async def test_a_resent_event_awards_once_and_a_reused_key_is_a_conflict(db: str) -> None:
    # given a rule of 25 points per review
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, event_type="review", points=25)
    # when the same review is sent three times, and its key once more for another review
    first = await track(t.tenant.id, member.external_user_id, "rv-1", "review", T0, stars=5)
    again = [
        await track(t.tenant.id, member.external_user_id, "rv-1", "review", T0, stars=5)
        for _ in range(2)
    ]
    with pytest.raises(Conflict) as conflict:
        await track(t.tenant.id, member.external_user_id, "rv-1", "review", T0, stars=1)
    # then it was stored and awarded once; the copies answer with that award
    assert not first.replayed and all(a.replayed for a in again)
    assert {a.event.id for a in again} == {first.event.id}
    assert [a.points for a in again[0].awards] == [25]
    assert conflict.value.code == "IDEMPOTENCY_CONFLICT"
    assert await MemberEvent.filter(tenant_id=t.tenant.id).count() == 1
    assert await balance(member.id) == 25


async def test_one_order_earns_once_whatever_the_key(db: str) -> None:
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, points=10)
    await track(t.tenant.id, member.external_user_id, "k-1", amount=10, orderId="o-9")
    with pytest.raises(Refused) as refused:
        await track(t.tenant.id, member.external_user_id, "k-2", amount=10, orderId="o-9")
    assert refused.value.code == "DUPLICATE_ORDER"
    assert await balance(member.id) == 10


async def test_a_return_takes_back_what_its_order_earned_never_below_zero(db: str) -> None:
    # given a purchase that earned 100 points, 70 of them since spent
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, award_kind=AwardKind.PER_UNIT, points=1, unit_amount="1")
    await track(t.tenant.id, member.external_user_id, "p-1", amount=100, orderId="o-1")
    await make_member_spend(t.tenant.id, member.id, 70)
    # when the order is returned, and the return re-sent under another key
    back = await track(t.tenant.id, member.external_user_id, "r-1", "return", orderId="o-1")
    again = await track(t.tenant.id, member.external_user_id, "r-2", "return", orderId="o-1")
    # then 30 (all that was left) were taken back, once; the balance is 0, not below
    assert [a.points for a in back.awards] == [-30] and again.awards == []
    assert "30 of 100" in back.awards[0].note
    assert await balance(member.id) == 0
    returns = await LedgerEntry.filter(source=LedgerSource.RETURN, account__member_id=member.id)
    assert [e.amount for e in returns] == [-30] and "o-1" in returns[0].description


async def test_a_partial_return_takes_back_its_share(db: str) -> None:
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, award_kind=AwardKind.PER_UNIT, points=1, unit_amount="1")
    await track(t.tenant.id, member.external_user_id, "p-1", amount=200, orderId="o-1")
    first = await track(
        t.tenant.id, member.external_user_id, "r-1", "return", orderId="o-1", amount=50
    )
    rest = await track(
        t.tenant.id, member.external_user_id, "r-2", "return", orderId="o-1", amount=200
    )
    assert [a.points for a in first.awards] == [-50] and [a.points for a in rest.awards] == [-150]
    assert await balance(member.id) == 0


async def test_pending_and_expiring_awards_are_grants(db: str) -> None:
    # given a signup bonus pending 14 days, then valid 30 days
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, event_type="signup", points=500, pending_days=14, validity_days=30)
    with clock.frozen_at(T0):
        tracked = await track(t.tenant.id, member.external_user_id, "s-1", "signup")
    # then the points wait as a pending grant valid from day 14 to day 44
    grant = await PointGrant.get(id=tracked.awards[0].grant_id)
    assert grant.status == GrantStatus.PENDING and grant.amount == 500
    assert grant.valid_from == T0 + timedelta(days=14)
    assert grant.valid_to == T0 + timedelta(days=44)
    assert (await PointAccount.get(member_id=member.id)).pending == 500
    # and a return of nothing does not touch them; a signup is no order
    assert await balance(member.id) == 0


async def test_a_return_before_activation_cancels_the_pending_points(db: str) -> None:
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, points=40, pending_days=30)
    with clock.frozen_at(T0):
        bought = await track(t.tenant.id, member.external_user_id, "p", amount=5, orderId="o")
        back = await track(t.tenant.id, member.external_user_id, "r", "return", orderId="o")
    assert [a.points for a in back.awards] == [-40]
    grant = await PointGrant.get(id=bought.awards[0].grant_id)
    assert grant.status == GrantStatus.EXPIRED and grant.amount == 0
    assert (await PointAccount.get(member_id=member.id)).pending == 0


@pytest.mark.parametrize(
    ("caps", "events", "expected"),
    [
        pytest.param({"cap_member_day": 100}, [40, 40, 40, 40], [40, 40, 20, 0], id="day-edge"),
        pytest.param({"cap_member_day": 80}, [40, 40, 40], [40, 40, 0], id="day-exact"),
        pytest.param(
            {"cap_member_month": 50, "cap_member_day": 30},
            [20, 20, 20],
            [20, 10, 0],
            id="day-binds-first",
        ),
        pytest.param({"cap_total": 45}, [20, 20, 20], [20, 20, 5], id="total"),
    ],
)
async def test_caps_at_their_edges(
    db: str, caps: dict[str, int], events: list[int], expected: list[int]
) -> None:
    # given a rule awarding the purchase amount in points, under caps
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, award_kind=AwardKind.PER_UNIT, points=1, unit_amount="1", **caps)
    # when purchases are tracked on one day
    got = []
    for n, amount in enumerate(events):
        tracked = await track(
            t.tenant.id,
            member.external_user_id,
            f"k{n}",
            occurred_at=T0,
            amount=amount,
            orderId=f"o{n}",
        )
        got.append(tracked.awards[0].points)
    # then each is awarded what still fits
    assert got == expected
    assert await balance(member.id) == sum(expected)


async def test_the_daily_cap_starts_again_the_next_day(db: str) -> None:
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, points=30, cap_member_day=50)
    days = [T0, T0 + timedelta(hours=13, minutes=59), T0 + timedelta(hours=14)]  # 23:59, 00:00
    got = [
        (
            await track(
                t.tenant.id,
                member.external_user_id,
                f"k{n}",
                occurred_at=d,
                amount=1,
                orderId=f"o{n}",
            )
        )
        .awards[0]
        .points
        for n, d in enumerate(days)
    ]
    assert got == [30, 20, 30]


async def test_bad_events_are_refused_with_a_code(db: str) -> None:
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    ext = member.external_user_id
    cases = [
        (dict(type_="Purchase!"), "INVALID_EVENT_TYPE", "type"),
        (dict(type_="purchase", amount=10), "REQUIRED", "properties.orderId"),
        (dict(type_="purchase", orderId="x"), "REQUIRED", "properties.amount"),
        (dict(type_="purchase", orderId="x", amount=-1), "INVALID", "properties.amount"),
        (
            dict(type_="review", occurred_at=clock.now() + timedelta(days=1)),
            "INVALID",
            "occurredAt",
        ),
    ]
    for kwargs, code, field in cases:
        with pytest.raises(InvalidInput) as exc:
            await track(t.tenant.id, ext, "k", **kwargs)  # type: ignore[arg-type]
        assert (exc.value.code, exc.value.field) == (code, field)
    with pytest.raises(NotFound):
        await track(t.tenant.id, "nobody", "k", "review")
    assert await MemberEvent.filter(tenant_id=t.tenant.id).count() == 0
    assert await RuleAward.filter(tenant_id=t.tenant.id).count() == 0


async def make_member_spend(tenant_id: UUID, member_id: UUID, points: int) -> None:
    from models.points.awards import AwardRequest, award_points

    await award_points(
        AwardRequest(tenant_id, member_id, None, -points, LedgerSource.MANUAL, "spent")
    )
