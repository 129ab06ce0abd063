"""What one redemption writes, and in how many statements.

On PostgreSQL a plain redemption is one statement committed on its own
(models.redemptions.one_statement); whatever it cannot do goes the general way, in a
transaction where an account with nothing to settle is debited by the one UPDATE that
locks it and the rows ride on the stock's UPDATE. A refusal at the stock takes all of it
back; an account with points to settle first is settled and spends expiring points first.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from core import clock
from core.errors import DomainError
from models.catalog.tables import Reward
from models.members.tables import Member
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerEntry, LedgerSource, PointAccount, PointGrant
from models.redemptions.one_statement import redeem_in_one_statement
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import PayloadFormat, WebhookDelivery, WebhookEvent
from tests import dbsetup
from tests.api.test_batched_reads import statements
from tests.factories import make_member, make_reward, make_tenant

WRITES = ("INSERT", "UPDATE", "WITH")


async def test_a_plain_redemption_is_one_statement_and_leaves_a_whole_record(db: str) -> None:
    # given a member with 500 points (nothing pending or expiring) and a stocked reward
    shop = await make_tenant()
    member = await make_member(shop.tenant.id, points=500)
    reward = await make_reward(shop.tenant.id, point_cost=200, stock=3)
    # when the member redeems two of it, with the statements counted
    with statements() as seen:
        redemption = await redeem(
            RedeemRequest(shop.tenant.id, member.id, reward.id, quantity=2, actor="tester")
        )
    # then on PostgreSQL it wrote with one statement: the account's debit, the stock,
    # the entry, the redemption and its events
    writes = [s.split("(", 1)[0].split()[:3] for s in seen if s.upper().startswith(WRITES)]
    if dbsetup.is_postgres():
        assert writes == [["WITH", "debit", "AS"]], seen
    else:  # SQLite in-process, the general way: one statement per table
        assert [w[:2] for w in writes] == [
            ["UPDATE", '"point_account"'],
            ["INSERT", "INTO"],
            ["INSERT", "INTO"],
            ["INSERT", "INTO"],
            ["UPDATE", '"reward"'],
        ], seen
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
    assert [(e.message, e.from_status, e.to_status, e.actor) for e in events] == [
        (f"Redeem requested: 2 x {reward.name}", None, "REDEEMED", "tester"),
        ("400 points withdrawn", None, None, "tester"),
    ]
    assert {e.created_at for e in events} == {stored.created_at}
    assert {e.tenant_id for e in events} == {shop.tenant.id}
    assert events[0].data == {
        "quantity": 2,
        "pointCost": 200,
        "userId": str(member.id),
        "externalUserId": member.external_user_id,
        "email": member.email,
    }
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


async def test_a_redemption_with_a_key_is_one_statement_and_replays(db: str) -> None:
    # given a member with 500 points and a stocked reward
    shop = await make_tenant()
    member = await make_member(shop.tenant.id, points=500)
    reward = await make_reward(shop.tenant.id, point_cost=200, stock=3)
    request = RedeemRequest(shop.tenant.id, member.id, reward.id, idempotency_key="order-1")
    # when the backend redeems with an idempotency key, with the statements counted
    with statements() as seen:
        first = await redeem(request)
    # then on PostgreSQL the key's claim came first in the one statement
    writes = [s.split("(", 1)[0].split()[:3] for s in seen if s.upper().startswith(WRITES)]
    if dbsetup.is_postgres():
        assert writes == [["WITH", "claim", "AS"]], seen
    # and the same request again answers with the same redemption, taking nothing more
    again = await redeem(request)
    assert again.id == first.id
    assert await _written(member) == (300, 2, 1)
    await reward.refresh_from_db()
    assert reward.stock == 2


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
    await _expiring(shop.tenant.id, member.id, 50)
    reward = await make_reward(shop.tenant.id, point_cost=30)
    # when the member redeems a reward of 30
    await redeem(RedeemRequest(shop.tenant.id, member.id, reward.id))
    # then the 30 came out of the expiring points (the general way, which settles and
    # spends expiring points first), and 100 + 20 are left
    (grant,) = await PointGrant.filter(account__member_id=member.id)
    assert grant.remaining == 20
    account = await PointAccount.get(member_id=member.id)
    assert account.balance == 120


async def _expiring(tenant_id: UUID, member_id: UUID, amount: int) -> None:
    """Points that expire in a week: the account has something to settle from now on."""
    await award_points(
        AwardRequest(
            tenant_id=tenant_id,
            member_id=member_id,
            definition_id=None,
            amount=amount,
            source=LedgerSource.PURCHASE,
            valid_to=clock.now() + timedelta(days=7),
        )
    )


async def _attempt(shop_id: UUID, member: Member, reward: Reward) -> Redemption | None:
    """The one-statement way alone, as redeem() would try it."""
    request = RedeemRequest(shop_id, member.id, reward.id)
    return await redeem_in_one_statement(request, reward, uuid4(), clock.now())


async def _written(member: Member) -> tuple[int, int, int]:
    """The member's balance, ledger entries and redemptions."""
    account = await PointAccount.get(member_id=member.id)
    entries = await LedgerEntry.filter(account_id=account.id).count()
    return account.balance, entries, await Redemption.filter(member_id=member.id).count()


@pytest.mark.skipif(not dbsetup.is_postgres(), reason="the one-statement way is PostgreSQL's")
async def test_the_one_statement_way_changes_nothing_when_it_cannot_redeem(db: str) -> None:
    # given a member with 100 points, and what the statement cannot do:
    shop = await make_tenant()
    member = await make_member(shop.tenant.id, points=100)
    before = await _written(member)
    # a reward read with one left that another redemption took meanwhile (its UPDATE
    # held the debit, then the stock refused: the statement undid it)
    taken = await make_reward(shop.tenant.id, point_cost=10, stock=1)
    await Reward.filter(id=taken.id).update(stock=0)
    # a reward costing more than the balance (the debit matched no row)
    dear = await make_reward(shop.tenant.id, point_cost=101)
    # then neither redeems and neither changed anything
    assert await _attempt(shop.tenant.id, member, taken) is None
    assert await _attempt(shop.tenant.id, member, dear) is None
    assert await _written(member) == before
    assert (await Reward.get(id=taken.id)).stock == 0
    assert not await RedemptionEvent.filter(tenant_id=shop.tenant.id).exists()
    # and points to settle first (a grant that expires) also leave it to the general way
    await _expiring(shop.tenant.id, member.id, 5)
    cheap = await make_reward(shop.tenant.id, point_cost=1)
    settled = await _written(member)
    assert await _attempt(shop.tenant.id, member, cheap) is None
    assert await _written(member) == settled


@pytest.mark.skipif(not dbsetup.is_postgres(), reason="the one-statement way is PostgreSQL's")
async def test_a_webhook_for_the_redemption_leaves_it_to_the_general_way(db: str) -> None:
    # given a tenant whose backend wants redemption.created, and a member with points
    shop = await make_tenant()
    await create_endpoint(
        shop.tenant.id,
        "http://127.0.0.1:9/in",
        [WebhookEvent.REDEMPTION_CREATED],
        PayloadFormat.TOOLZZ,
        allow_private=True,
    )
    member = await make_member(shop.tenant.id, points=100)
    reward = await make_reward(shop.tenant.id, point_cost=10, stock=5)
    # when the member redeems
    redemption = await redeem(RedeemRequest(shop.tenant.id, member.id, reward.id))
    # then the redemption's outbox row was written with it (the general way)
    delivery = await WebhookDelivery.get(redemption_id=redemption.id)
    assert delivery.event == WebhookEvent.REDEMPTION_CREATED.value
    assert delivery.payload["data"]["exchange"]["product"]["stock_left"] == "4"
