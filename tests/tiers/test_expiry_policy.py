"""A currency's expiry policy: valid-to of awards that give none, at month and year edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import clock
from core.errors import InvalidInput
from models.members.upserts import save_point_definition
from models.points.awards import AwardRequest, award_points
from models.points.expiry import expiry_for
from models.points.tables import ExpiryPolicy, LedgerSource
from tests.factories import default_definition, make_member, make_tenant


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("policy", "value", "earned", "expires"),
    [
        (ExpiryPolicy.NEVER, None, utc(2026, 1, 31, 12), None),
        (ExpiryPolicy.AFTER_DAYS, 30, utc(2026, 1, 31, 12), utc(2026, 3, 2, 12)),
        (ExpiryPolicy.AFTER_DAYS, 1, utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 23, 59)),
        (ExpiryPolicy.AFTER_DAYS, 365, utc(2028, 2, 29), utc(2029, 2, 28)),
        # calendar months: a day the target month lacks becomes its last day
        (ExpiryPolicy.AFTER_MONTHS, 1, utc(2026, 1, 31, 12), utc(2026, 2, 28, 12)),
        (ExpiryPolicy.AFTER_MONTHS, 1, utc(2028, 1, 31), utc(2028, 2, 29)),
        (ExpiryPolicy.AFTER_MONTHS, 12, utc(2028, 2, 29), utc(2029, 2, 28)),
        (ExpiryPolicy.AFTER_MONTHS, 2, utc(2026, 12, 15), utc(2027, 2, 15)),
        # end of the month of earning (+ N months): midnight UTC starting the next one
        (ExpiryPolicy.END_OF_MONTH, 0, utc(2026, 3, 1), utc(2026, 4, 1)),
        (ExpiryPolicy.END_OF_MONTH, 0, utc(2026, 3, 31, 23, 59, 59), utc(2026, 4, 1)),
        (ExpiryPolicy.END_OF_MONTH, 1, utc(2026, 1, 31, 12), utc(2026, 3, 1)),
        (ExpiryPolicy.END_OF_MONTH, 0, utc(2026, 12, 31, 23), utc(2027, 1, 1)),
        (ExpiryPolicy.END_OF_MONTH, 1, utc(2026, 12, 1), utc(2027, 2, 1)),
        (ExpiryPolicy.END_OF_MONTH, 14, utc(2026, 11, 5), utc(2028, 2, 1)),
        # end of the year of earning (+ N years)
        (ExpiryPolicy.END_OF_YEAR, 0, utc(2026, 1, 1), utc(2027, 1, 1)),
        (ExpiryPolicy.END_OF_YEAR, 0, utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1)),
        (ExpiryPolicy.END_OF_YEAR, 1, utc(2026, 6, 30), utc(2028, 1, 1)),
        # another timezone is read in UTC: 1 Jan 00:30 at +02:00 is still 31 Dec in UTC
        (
            ExpiryPolicy.END_OF_YEAR,
            0,
            datetime(2027, 1, 1, 0, 30, tzinfo=UTC) + timedelta(hours=-2),
            utc(2027, 1, 1),
        ),
    ],
)
def test_each_policy_computes_valid_to_at_month_and_year_edges(
    policy: ExpiryPolicy, value: int | None, earned: datetime, expires: datetime | None
) -> None:
    assert expiry_for(policy, value, earned) == expires


@pytest.mark.usefixtures("db")
async def test_awards_without_valid_to_follow_the_policy_and_given_ones_are_kept() -> None:
    # given a currency whose points expire at the end of the month after earning
    tenant = (await make_tenant()).tenant
    definition = await default_definition(tenant.id)
    await save_point_definition(
        tenant.id, definition.id, definition.name, expiry=(ExpiryPolicy.END_OF_MONTH, 1)
    )
    member = await make_member(tenant.id)

    def award(amount: int, valid_to: datetime | None = None) -> AwardRequest:
        return AwardRequest(
            tenant_id=tenant.id,
            member_id=member.id,
            definition_id=None,
            amount=amount,
            source=LedgerSource.PURCHASE,
            valid_to=valid_to,
        )

    # when points are awarded on 31 Jan without a validTo, with one, and a deduction
    with clock.frozen_at(utc(2026, 1, 31, 23, 0)):
        plain = await award_points(award(100))
        own = await award_points(award(50, valid_to=utc(2026, 2, 10)))
        spent = await award_points(award(-10))
    # then the first expires at the end of February, the second when it said; a deduction
    # has no expiry
    assert plain.entry is not None and plain.entry.valid_to == utc(2026, 3, 1)
    assert own.grant is not None and own.grant.valid_to == utc(2026, 2, 10)
    assert spent.entry is not None and spent.entry.valid_to is None


@pytest.mark.parametrize(
    ("policy", "value"),
    [
        (ExpiryPolicy.AFTER_DAYS, None),
        (ExpiryPolicy.AFTER_MONTHS, 0),
        (ExpiryPolicy.END_OF_YEAR, -1),
    ],
)
@pytest.mark.usefixtures("db")
async def test_a_policy_value_that_does_not_fit_is_refused(
    policy: ExpiryPolicy, value: int | None
) -> None:
    tenant = (await make_tenant()).tenant
    definition = await default_definition(tenant.id)
    with pytest.raises(InvalidInput) as refused:
        await save_point_definition(tenant.id, definition.id, "points", expiry=(policy, value))
    assert (refused.value.field, refused.value.code) == ("expiryValue", "INVALID")
