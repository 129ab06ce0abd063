"""Tiers computed from activity, with a fixed clock: upgrade at once, downgrade only at the
review date (across the window's boundary), grace period, manual override."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from core import clock
from models.members.tables import Member, Tier
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerSource
from models.tiers.overrides import clear_override, set_member_tier
from models.tiers.policy import PolicyFields, save_tier_policy
from models.tiers.reviews import review_due
from models.tiers.tables import TierBasis, TierChange
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import PayloadFormat, WebhookDelivery
from tests.factories import make_member, make_tenant

pytestmark = pytest.mark.usefixtures("db")

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


async def _programme(grace_days: int = 0) -> tuple[UUID, dict[str, Tier]]:
    """Silver from 1,000 points earned in 12 months, Gold from 5,000; a tier is kept 18
    months before it is reviewed."""
    tenant = (await make_tenant()).tenant
    tiers = {
        "Silver": await Tier.create(tenant_id=tenant.id, name="Silver", rank=1, min_value=1000),
        "Gold": await Tier.create(tenant_id=tenant.id, name="Gold", rank=2, min_value=5000),
        "VIP": await Tier.create(tenant_id=tenant.id, name="VIP", rank=9),  # by hand only
    }
    await save_tier_policy(
        tenant.id,
        PolicyFields(
            enabled=True,
            basis=TierBasis.POINTS_EARNED,
            definition_id=None,
            window_months=12,
            review_months=18,
            grace_days=grace_days,
        ),
    )
    return tenant.id, tiers


async def _earn(tenant_id: UUID, member_id: UUID, amount: int) -> None:
    await award_points(
        AwardRequest(
            tenant_id=tenant_id,
            member_id=member_id,
            definition_id=None,
            amount=amount,
            source=LedgerSource.PURCHASE,
        )
    )


async def _tier_of(member_id: UUID) -> str | None:
    member = await Member.get(id=member_id).prefetch_related("tier")
    return member.tier.name if member.tier else None


async def _history(member_id: UUID) -> list[tuple[str | None, str | None, str]]:
    rows = await TierChange.filter(member_id=member_id).order_by("created_at", "id")
    return [(c.from_name, c.to_name, c.reason) for c in rows]


async def test_a_posting_that_crosses_a_threshold_upgrades_at_once() -> None:
    # given a programme and a member with 900 points earned, no tier
    tenant_id, _ = await _programme()
    member = await make_member(tenant_id)
    endpoint = await create_endpoint(
        tenant_id,
        "http://127.0.0.1:9/hook",
        ["member.tier_changed"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    with clock.frozen_at(T0):
        await _earn(tenant_id, member.id, 900)
        assert await _tier_of(member.id) is None
        # when it earns 100 more, and later 4,000 more
        await _earn(tenant_id, member.id, 100)
        silver_at = clock.now()
        clock.advance(timedelta(days=3))
        await _earn(tenant_id, member.id, 4000)

    # then each posting that crossed a threshold upgraded it at once, reviewed 18 months on
    assert await _tier_of(member.id) == "Gold"
    assert await _history(member.id) == [(None, "Silver", "UPGRADE"), ("Silver", "Gold", "UPGRADE")]
    stored = await Member.get(id=member.id)
    assert stored.tier_review_at == datetime(2027, 7, 18, 10, 0, tzinfo=UTC)
    # and the tenant's endpoint got `member.tier_changed` for each
    deliveries = await WebhookDelivery.filter(endpoint_id=endpoint.endpoint.id).order_by(
        "created_at"
    )
    assert [d.payload["new_tier"]["name"] for d in deliveries] == ["Silver", "Gold"]
    first = deliveries[0].payload
    assert first == {
        "event": "member.tier_changed",
        "user_id": str(member.id),
        "external_user_id": member.external_user_id,
        "old_tier": None,
        "new_tier": {"id": first["new_tier"]["id"], "name": "Silver", "rank": 1},
        "timestamp": silver_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


async def test_activity_leaving_the_window_downgrades_only_at_the_review_date() -> None:
    # given a member that reached Silver on 15 Jan 2026 (review: 15 Jul 2027)
    tenant_id, _ = await _programme()
    member = await make_member(tenant_id)
    with clock.frozen_at(T0):
        await _earn(tenant_id, member.id, 1200)
    assert await _tier_of(member.id) == "Silver"

    # when the cron runs after those points left the 12-month window, before the review
    with clock.frozen_at(datetime(2027, 3, 1, tzinfo=UTC)):
        early = await review_due()
    # then nothing changed: a downgrade waits for the review date
    assert (early.reviewed, early.changed) == (0, 0)
    assert await _tier_of(member.id) == "Silver"

    # when the review date comes (one second short of it, then on it)
    with clock.frozen_at(datetime(2027, 7, 15, 9, 59, 59, tzinfo=UTC)):
        assert (await review_due()).reviewed == 0
    with clock.frozen_at(datetime(2027, 7, 15, 10, 0, tzinfo=UTC)):
        due = await review_due()

    # then the member gets the tier its activity in the window qualifies for: none
    assert (due.reviewed, due.changed) == (1, 1)
    assert await _tier_of(member.id) is None
    assert await _history(member.id) == [(None, "Silver", "UPGRADE"), ("Silver", None, "DOWNGRADE")]
    assert (await Member.get(id=member.id)).tier_review_at is None


async def test_a_member_that_still_qualifies_at_review_keeps_its_tier_another_period() -> None:
    # given a Silver member that kept earning inside the window
    tenant_id, _ = await _programme()
    member = await make_member(tenant_id)
    with clock.frozen_at(T0):
        await _earn(tenant_id, member.id, 1200)
    with clock.frozen_at(datetime(2027, 2, 1, tzinfo=UTC)):
        await _earn(tenant_id, member.id, 1000)
    # when its review comes
    with clock.frozen_at(datetime(2027, 7, 15, 10, 0, tzinfo=UTC)):
        due = await review_due()
    # then it stays Silver, reviewed again 18 months later
    assert (due.reviewed, due.changed) == (1, 0)
    assert await _tier_of(member.id) == "Silver"
    stored = await Member.get(id=member.id)
    assert stored.tier_review_at == datetime(2029, 1, 15, 10, 0, tzinfo=UTC)


async def test_the_grace_period_keeps_the_tier_and_qualifying_in_it_saves_it() -> None:
    # given a programme with 30 days of grace and two Silver members with no recent activity
    tenant_id, _ = await _programme(grace_days=30)
    saved, lapsed = await make_member(tenant_id), await make_member(tenant_id)
    with clock.frozen_at(T0):
        await _earn(tenant_id, saved.id, 1200)
        await _earn(tenant_id, lapsed.id, 1200)
    review = datetime(2027, 7, 15, 10, 0, tzinfo=UTC)

    # when their review comes
    with clock.frozen_at(review):
        await review_due()
    # then both keep Silver, in grace until 30 days later
    for member_id in (saved.id, lapsed.id):
        stored = await Member.get(id=member_id)
        assert (await _tier_of(member_id), stored.tier_in_grace) == ("Silver", True)
        assert stored.tier_review_at == review + timedelta(days=30)

    # when one earns enough inside the grace period, and the grace period ends
    with clock.frozen_at(review + timedelta(days=10)):
        await _earn(tenant_id, saved.id, 1000)
    with clock.frozen_at(review + timedelta(days=30)):
        due = await review_due()

    # then the one that qualified again keeps Silver for another period; the other drops
    assert (due.reviewed, due.changed) == (1, 1)
    kept = await Member.get(id=saved.id)
    assert (await _tier_of(saved.id), kept.tier_in_grace) == ("Silver", False)
    assert kept.tier_review_at == datetime(2029, 1, 25, 10, 0, tzinfo=UTC)
    assert await _tier_of(lapsed.id) is None
    assert (await _history(lapsed.id))[-1] == ("Silver", None, "DOWNGRADE")


async def test_a_manual_override_stands_until_its_date_then_computation_takes_over() -> None:
    # given a Silver member that an admin puts in VIP (a tier given by hand) until 1 March
    tenant_id, tiers = await _programme()
    member = await make_member(tenant_id)
    with clock.frozen_at(T0):
        await _earn(tenant_id, member.id, 1200)
        clock.advance(timedelta(minutes=5))
        change = await set_member_tier(
            tenant_id,
            member.id,
            tiers["VIP"].id,
            "Compensation for a lost parcel",
            until=datetime(2026, 3, 1, tzinfo=UTC),
            actor="admin:1",
        )
        # when the member earns past Gold while overridden
        await _earn(tenant_id, member.id, 5000)
    # then the override holds, and the history says who set it and why
    assert await _tier_of(member.id) == "VIP"
    assert (change.reason, change.note, change.actor) == (
        "MANUAL",
        "Compensation for a lost parcel",
        "admin:1",
    )

    # when the override's date passes and the cron runs
    with clock.frozen_at(datetime(2026, 3, 1, 0, 1, tzinfo=UTC)):
        done = await review_due()
    # then the member gets what its activity qualifies for now: Gold
    assert done.overrides_ended == 1
    assert await _tier_of(member.id) == "Gold"
    assert await _history(member.id) == [
        (None, "Silver", "UPGRADE"),
        ("Silver", "VIP", "MANUAL"),
        ("VIP", "Gold", "DOWNGRADE"),  # VIP ranks above Gold
    ]


async def test_clearing_an_override_recomputes_the_tier_at_once() -> None:
    # given a member with no activity put in Gold by hand, with no end date
    tenant_id, tiers = await _programme()
    member = await make_member(tenant_id)
    await set_member_tier(tenant_id, member.id, tiers["Gold"].id, "Partner staff")
    # when the override is cleared
    _, change = await clear_override(tenant_id, member.id)
    # then the member drops to the tier its activity qualifies for (none)
    assert change is not None and change.reason == "DOWNGRADE"
    assert await _tier_of(member.id) is None
    stored = await Member.get(id=member.id)
    assert (stored.tier_override, stored.tier_override_reason) == (False, None)


@pytest.mark.parametrize(
    ("reason", "until", "field", "code"),
    [
        ("", None, "reason", "REQUIRED"),
        ("ok", datetime(2020, 1, 1, tzinfo=UTC), "until", "INVALID"),
    ],
)
async def test_an_override_needs_a_reason_and_a_future_end(
    reason: str, until: datetime | None, field: str, code: str
) -> None:
    from core.errors import InvalidInput

    tenant_id, tiers = await _programme()
    member = await make_member(tenant_id)
    with pytest.raises(InvalidInput) as refused:
        await set_member_tier(tenant_id, member.id, tiers["Gold"].id, reason, until=until)
    assert (refused.value.field, refused.value.code) == (field, code)


async def test_a_tier_set_by_the_backend_is_in_the_history_and_reviewed_a_period_later() -> None:
    # given a programme, and a member the tenant's backend puts in Gold
    tenant_id, tiers = await _programme()
    with clock.frozen_at(T0):
        member = await make_member(tenant_id, tier=tiers["Gold"])
    # then the assignment is a MANUAL change, reviewed 18 months later
    assert await _history(member.id) == [(None, "Gold", "MANUAL")]
    stored = await Member.get(id=member.id)
    assert stored.tier_review_at == datetime(2027, 7, 15, 10, 0, tzinfo=UTC)
    # when its review comes without activity, it drops to the tier it qualifies for
    with clock.frozen_at(datetime(2027, 7, 15, 10, 0, tzinfo=UTC)):
        await review_due()
    assert await _tier_of(member.id) is None
