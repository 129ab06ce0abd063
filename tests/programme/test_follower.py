"""In follower modes a rule's award is not posted here: it is forwarded to the point master
as an Automation adjustment naming the rule and the event, through the outbox."""

from __future__ import annotations

import pytest

from core.errors import Refused
from models.pointmaster.modes import set_point_mode
from models.pointmaster.settings import rotate_key, save_settings
from models.pointmaster.tables import ForwardedAdjustment
from models.points.tables import LedgerEntry, PointAccount
from models.programme.tables import MemberEvent, RuleCapCounter
from models.tenancy.tables import PointMode
from models.webhooks.tables import WebhookDelivery
from tests.factories import make_member, make_tenant
from tests.programme.rules import make_rule, track


@pytest.mark.parametrize("mode", [PointMode.FOLLOWER_TRANSACTIONS, PointMode.FOLLOWER_BALANCE])
async def test_awards_and_takebacks_are_forwarded_to_the_master(db: str, mode: PointMode) -> None:
    # given a follower tenant with a link to its master, and a rule of 30 points a purchase
    t = await make_tenant()
    await set_point_mode(t.tenant.id, mode, actor="test")
    await save_settings(
        t.tenant.id, "test", allow_private=True, adjustment_url="http://127.0.0.1:9/master"
    )
    await rotate_key(t.tenant.id, "test")
    member = await make_member(t.tenant.id)
    rule = await make_rule(t.tenant.id, name="Thirty", points=30, cap_member_day=50)
    # when two purchases and a return of the first are tracked
    first = await track(t.tenant.id, member.external_user_id, "p1", amount=9, orderId="o1")
    second = await track(t.tenant.id, member.external_user_id, "p2", amount=9, orderId="o2")
    back = await track(t.tenant.id, member.external_user_id, "r1", "return", orderId="o1")
    # then nothing was posted here; the master is told +30, +20 (the daily cap) and -30
    assert await LedgerEntry.filter(tenant_id=t.tenant.id).count() == 0
    assert await PointAccount.filter(member_id=member.id).count() == 0
    forwards = await ForwardedAdjustment.filter(tenant_id=t.tenant.id).order_by("created_at")
    assert [f.amount for f in forwards] == [30, 20, -30]
    assert [a.forwarded_id for a in (*first.awards, *second.awards, *back.awards)] == [
        f.id for f in forwards
    ]
    fields = forwards[0].payload_fields
    assert fields["Source"] == "Automation" and fields["ContactId"] == member.external_user_id
    assert fields["WorkflowId"] == str(rule.id) and fields["WorkflowName"] == "Thirty"
    assert fields["ProcessId"] == str(first.event.id) and "Thirty" in fields["Description"]
    deliveries = await WebhookDelivery.filter(tenant_id=t.tenant.id).count()
    assert deliveries == 3 and all(f.delivery_id for f in forwards)


async def test_without_a_link_to_the_master_the_event_is_refused_whole(db: str) -> None:
    t = await make_tenant()
    await set_point_mode(t.tenant.id, PointMode.FOLLOWER_TRANSACTIONS, actor="test")
    member = await make_member(t.tenant.id)
    await make_rule(t.tenant.id, points=30, cap_total=100)
    with pytest.raises(Refused) as refused:
        await track(t.tenant.id, member.external_user_id, "p1", amount=9, orderId="o1")
    assert refused.value.code == "NO_ADJUSTMENT_URL"
    # nothing half done: no event, no cap used; the backend may send it again later
    assert await MemberEvent.filter(tenant_id=t.tenant.id).count() == 0
    assert await RuleCapCounter.filter(used__gt=0).count() == 0
