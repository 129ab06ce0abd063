from models.points.tables import PointAccount
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import RedemptionEvent, RedemptionStatus
from tests.factories import make_member, make_reward, make_tenant


async def test_redeem_withdraws_points_and_stock(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=500)
    reward = await make_reward(t.tenant.id, point_cost=200, stock=3)
    # when
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id, quantity=2))
    # then
    assert redemption.status == RedemptionStatus.REDEEMED
    account = await PointAccount.get(member_id=member.id)
    assert account.balance == 100
    await reward.refresh_from_db()
    assert reward.stock == 1
    kinds = [
        e.kind for e in await RedemptionEvent.filter(redemption_id=redemption.id).order_by("id")
    ]
    assert kinds == ["REDEEM_REQUESTED", "POINTS_WITHDRAWN"]
