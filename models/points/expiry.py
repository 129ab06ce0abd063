"""A currency's expiry policy: the valid-to of points awarded without one."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from core.errors import ErrorCode, InvalidInput
from models.points.tables import ExpiryPolicy

MAX_EXPIRY_VALUE = 3650  # days, months or periods: ten years of days is plenty


def validate_policy(policy: ExpiryPolicy, value: int | None) -> int | None:
    """The value kept for `policy` (None for NEVER); InvalidInput when it does not fit."""
    if policy == ExpiryPolicy.NEVER:
        return None
    if policy in (ExpiryPolicy.AFTER_DAYS, ExpiryPolicy.AFTER_MONTHS):
        if value is None or not 1 <= value <= MAX_EXPIRY_VALUE:
            raise InvalidInput(
                f"Give a number of {'days' if policy == ExpiryPolicy.AFTER_DAYS else 'months'}"
                f" from 1 to {MAX_EXPIRY_VALUE}",
                field="expiryValue",
                code=ErrorCode.INVALID,
            )
        return value
    value = 0 if value is None else value
    if not 0 <= value <= MAX_EXPIRY_VALUE:
        raise InvalidInput(
            f"Give how many periods after the one of earning, 0 to {MAX_EXPIRY_VALUE}",
            field="expiryValue",
            code=ErrorCode.INVALID,
        )
    return value


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, on the month's last day where it is shorter."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def expiry_for(policy: ExpiryPolicy, value: int | None, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire (None: never).

    Periods end at midnight UTC starting the next one: END_OF_MONTH with value 0 for a
    point earned on 15 March is 1 April 00:00 UTC (the instant after 31 March); value 1
    is 1 May. END_OF_YEAR likewise with years."""
    earned = _utc(earned_at)
    if policy == ExpiryPolicy.NEVER:
        return None
    if policy == ExpiryPolicy.AFTER_DAYS:
        return earned + timedelta(days=value or 0)
    if policy == ExpiryPolicy.AFTER_MONTHS:
        return add_months(earned, value or 0)
    start = earned.replace(hour=0, minute=0, second=0, microsecond=0)
    if policy == ExpiryPolicy.END_OF_MONTH:
        return add_months(start.replace(day=1), 1 + (value or 0))
    return start.replace(year=start.year + 1 + (value or 0), month=1, day=1)
