"""What one redemption writes, and in how many statements.

An account with nothing to settle is debited by the one UPDATE that locks it; the ledger
entry, the redemption and its events then ride on the reward's stock UPDATE (on
PostgreSQL one statement, data-modifying CTEs). A refusal at the stock takes all of it
back; an account with points to settle first takes the general way.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import clock
from core.errors import DomainError
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerEntry, LedgerSource, PointAccount, PointGrant
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent
from tests import dbsetup
from tests.api.test_batched_reads import statements
from tests.factories import make_member, make_reward, make_tenant

WRITES = ("INSERT", "UPDATE", "WITH")


async def test_a_plain_redemption_is_two_writes_and_leaves_a_whole_record(db: str) -> None:
    # given a member with 500 points (nothing pending or expiring) and a stocked reward
    shop = await make_tenant()
    member = await make_member(shop.tenant.id, points=500)
    reward = await make_reward(shop.tenant.id, point_cost=200, stock=3)
    # when the member redeems two of it, with the statements counted
    with statements() as seen:
        redemption = await redeem(
            RedeemRequest(shop.tenant.id, member.id, reward.id, quantity=2, actor="tester")
        )
    # then on PostgreSQL the transaction wrote with two statements: the account's debit,
    # then the entry, the redemption and its events with the stock's UPDATE
    writes = [s.split("(", 1)[0].split()[:3] for s in seen if s.upper().startswith(WRITES)]
    if dbsetup.is_postgres():
        assert writes == [["UPDATE", '"point_account"', "SET"], ["WITH", "w0", "AS"]], seen
    else:
        assert len(writes) == 5, seen  # SQLite in-process: one statement per table
    # and what was written is the whole redemption: a balance chain, the redemption,
    # its events in order, the stock
    account = await PointAccount.get(member_id=member.id)
    assert account.balance == 100
    last = await LedgerEntry.filter(account_id=account.id).order_by("-seq").first()
    assert last is not None
    assert (last.amount, last.balance_before, last.balance_after) == (-400, 500, 100)
    assert (last.seq, last.redemption_id, last.actor) == (
        account.ledger_seq,
        redemption.id,
        "tester",
    )
    assert last.source == LedgerSource.REDEMPTION
    stored = await Redemption.get(id=redemption.id)
    assert (stored.points_spent, stored.quantity, stored.status) == (400, 2, "REDEEMED")
    events = await RedemptionEvent.filter(redemption_id=redemption.id).order_by("id")
    assert [e.kind for e in events] == ["REDEEM_REQUESTED", "POINTS_WITHDRAWN"]
    assert events[1].data == {
        "amount": 400,
        "userId": str(member.id),
        "transactionId": str(redemption.id),
        "balanceBefore": 500,
        "balanceAfter": 100,
        "ledgerEntryId": str(last.id),
        "forwardedAdjustmentId": None,
    }
    await reward.refresh_from_db()
    assert reward.stock == 1


async def test_a_redemption_refused_at_the_stock_writes_nothing(db: str) -> None:
    # given a reward with one left, and a member with points
    shop = await make_tenant()
    member = await make_member(shop.tenant.id, points=500)
    reward = await make_reward(shop.tenant.id, point_cost=100, stock=1)
    account = await PointAccount.get(member_id=member.id)
    entries = await LedgerEntry.filter(account_id=account.id).count()
    # when the member asks for two
    with pytest.raises(DomainError, match="stock") as refused:
        await redeem(RedeemRequest(shop.tenant.id, member.id, reward.id, quantity=2))
    # then it is refused as out of stock, and the debit, the entry, the redemption and
    # its events written before the stock's refusal are all gone
    assert refused.value.code == "OUT_OF_STOCK"
    await account.refresh_from_db()
    assert account.balance == 500
    assert await LedgerEntry.filter(account_id=account.id).count() == entries
    assert not await Redemption.filter(member_id=member.id).exists()
    assert not await RedemptionEvent.filter(tenant_id=shop.tenant.id).exists()
    await reward.refresh_from_db()
    assert reward.stock == 1


async def test_an_account_with_expiring_points_spends_them_first(db: str) -> None:
    # given a member with 100 points that never expire and 50 that expire in a week
    shop = await make_tenant()
    member = await make_member(shop.tenant.id, points=100)
    await award_points(
        AwardRequest(
            tenant_id=shop.tenant.id,
            member_id=member.id,
            definition_id=None,
            amount=50,
            source=LedgerSource.PURCHASE,
            valid_to=clock.now() + timedelta(days=7),
        )
    )
    reward = await make_reward(shop.tenant.id, point_cost=30)
    # when the member redeems a reward of 30
    await redeem(RedeemRequest(shop.tenant.id, member.id, reward.id))
    # then the 30 came out of the expiring points (the general way, which settles and
    # spends expiring points first), and 100 + 20 are left
    (grant,) = await PointGrant.filter(account__member_id=member.id)
    assert grant.remaining == 20
    account = await PointAccount.get(member_id=member.id)
    assert account.balance == 120
