"""What one earning rule makes of one event, before caps: pure, no database.

`evaluate` answers the points the rule asks for, or why it awards nothing (inactive,
archived, outside its window, a condition that fails, no amount to count units of).
A per-unit award is `points` for every `unit_amount` of the event's `unit_property`
(e.g. 1 point per 10 currency units), rounded down, half up or up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from models.programme.conditions import as_number, failure, read_property
from models.programme.tables import AwardKind, EarningRule, Rounding

_ROUNDING = {
    Rounding.FLOOR: ROUND_FLOOR,
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.CEIL: ROUND_CEILING,
}


@dataclass(frozen=True)
class Verdict:
    points: int  # what the rule asks for (0: nothing)
    reason: str = ""  # why nothing, when points == 0


def rounded(value: Decimal, rounding: Rounding | str) -> int:
    return int(value.quantize(Decimal(1), rounding=_ROUNDING[Rounding(rounding)]))


def per_unit_points(
    amount: Decimal, unit_amount: Decimal, points: int, rounding: Rounding | str
) -> int:
    return rounded(amount / unit_amount * points, rounding)


def evaluate(
    rule: EarningRule, event_type: str, occurred_at: datetime, props: dict[str, Any]
) -> Verdict:
    if rule.event_type != event_type:
        return Verdict(0, f"the rule is for `{rule.event_type}` events")
    if rule.archived_at is not None:
        return Verdict(0, "the rule is archived")
    if not rule.active:
        return Verdict(0, "the rule is not active")
    if rule.active_from is not None and occurred_at < rule.active_from:
        return Verdict(0, f"the event is before the rule's window ({rule.active_from.isoformat()})")
    if rule.active_until is not None and occurred_at >= rule.active_until:
        return Verdict(0, f"the event is after the rule's window ({rule.active_until.isoformat()})")
    why = failure(rule.conditions, props)
    if why is not None:
        return Verdict(0, f"condition not met: {why}")
    if AwardKind(rule.award_kind) == AwardKind.FIXED:
        return Verdict(int(rule.points))
    assert rule.unit_amount is not None
    amount = as_number(read_property(props, rule.unit_property))
    if amount is None or amount <= 0:
        return Verdict(0, f"no positive `{rule.unit_property}` to count units of")
    points = per_unit_points(amount, Decimal(rule.unit_amount), int(rule.points), rule.rounding)
    if points <= 0:
        return Verdict(0, f"{amount} {rule.unit_property} earns less than one point")
    return Verdict(points)
