"""What one rule makes of one event, table-driven: conditions, rounding, windows, state.
Pure: no database (caps at their edges are in test_events.py, under a real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from core.errors import InvalidInput
from models.programme.conditions import check_conditions, failure
from models.programme.earning import evaluate, per_unit_points
from models.programme.tables import AwardKind, EarningRule, Rounding

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
PROPS = {
    "amount": 129.9,
    "currency": "EUR",
    "category": "shoes",
    "channel": None,
    "items": 3,
    "coupon": "",
    "product": {"brand": "acme", "price": "49.50"},
}


def c(prop: str, op: str, value: Any) -> dict[str, Any]:
    return {"property": prop, "op": op, "value": value}


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({}, True),
        ({"all": []}, True),
        (c("amount", "eq", 129.9), True),
        (c("amount", "eq", "129.9"), False),  # a string is not the number
        (c("items", "eq", 3.0), True),
        (c("amount", "ne", 5), True),
        (c("missing", "ne", 5), True),
        (c("amount", "gt", 129.9), False),
        (c("amount", "gte", 129.9), True),
        (c("amount", "gte", 50), True),
        (c("amount", "lt", 129.9), False),
        (c("amount", "lte", 129.9), True),
        (c("product.price", "gte", 49.5), True),  # a numeric string compares as a number
        (c("currency", "gt", "AAA"), True),  # strings with strings
        (c("currency", "gt", 5), False),  # a string with a number: never
        (c("category", "in", ["shoes", "bags"]), True),
        (c("category", "in", ["bags"]), False),
        (c("category", "not_in", ["bags"]), True),
        (c("missing", "not_in", ["bags"]), True),
        (c("missing", "in", ["bags"]), False),
        (c("product.brand", "eq", "acme"), True),
        (c("product.nope", "exists", True), False),
        (c("channel", "exists", True), False),  # null is not there
        (c("channel", "exists", False), True),
        (c("coupon", "exists", True), True),
        (c("missing", "gt", 1), False),
        ({"all": [c("amount", "gte", 50), c("category", "eq", "shoes")]}, True),
        ({"all": [c("amount", "gte", 50), c("category", "eq", "bags")]}, False),
        ({"any": [c("amount", "gte", 500), c("category", "eq", "shoes")]}, True),
        ({"any": [c("amount", "gte", 500), c("category", "eq", "bags")]}, False),
        ({"any": []}, False),
        ({"all": [{"any": [c("items", "gt", 5), c("product.brand", "in", ["acme"])]}]}, True),
    ],
)
def test_conditions(condition: dict[str, Any], holds: bool) -> None:
    assert (failure(check_conditions(condition), PROPS) is None) is holds


@pytest.mark.parametrize(
    ("condition", "place"),
    [
        ([], ""),
        ({"all": {}}, ".all"),
        ({"all": [], "any": []}, ""),
        ({"property": "a", "op": "like", "value": 1}, ".op"),
        ({"property": "", "op": "eq", "value": 1}, ".property"),
        ({"property": "a", "op": "eq"}, ".value"),
        ({"property": "a", "op": "in", "value": 1}, ".value"),
        ({"property": "a", "op": "exists", "value": "yes"}, ".value"),
        ({"property": "a", "op": "gt", "value": None}, ".value"),
        ({"property": "a", "op": "eq", "value": {"x": 1}}, ".value"),
        ({"property": "a", "op": "eq", "value": 1, "extra": 2}, ""),
        (
            {"all": [{"all": [{"all": [{"all": [{"all": [{}]}]}]}]}]},
            ".all[0].all[0].all[0].all[0].all[0]",
        ),
        ({"any": [c("a", "eq", n) for n in range(51)]}, ""),
    ],
)
def test_malformed_conditions_are_refused_naming_the_place(condition: Any, place: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_conditions(condition)
    assert exc.value.code == "INVALID_CONDITION" and exc.value.field == "conditions"
    assert exc.value.message.startswith(f"conditions{place}:")


@pytest.mark.parametrize(
    ("amount", "unit", "points", "rounding", "expected"),
    [
        ("55", "10", 1, Rounding.FLOOR, 5),
        ("55", "10", 1, Rounding.HALF_UP, 6),
        ("54.99", "10", 1, Rounding.HALF_UP, 5),
        ("55", "10", 1, Rounding.CEIL, 6),
        ("50", "10", 1, Rounding.CEIL, 5),
        ("50.01", "10", 1, Rounding.CEIL, 6),
        ("9.99", "10", 1, Rounding.FLOOR, 0),
        ("129.90", "1", 2, Rounding.FLOOR, 259),
        ("129.90", "1", 2, Rounding.HALF_UP, 260),
        ("0.25", "0.1", 3, Rounding.FLOOR, 7),
        ("1000000", "0.0001", 1, Rounding.FLOOR, 10_000_000_000),
    ],
)
def test_per_unit_rounding(
    amount: str, unit: str, points: int, rounding: Rounding, expected: int
) -> None:
    assert per_unit_points(Decimal(amount), Decimal(unit), points, rounding) == expected


def rule(**fields: Any) -> EarningRule:
    values: dict[str, Any] = {
        "id": uuid4(),
        "tenant_id": uuid4(),
        "name": "r",
        "event_type": "purchase",
        "conditions": {},
        "award_kind": AwardKind.PER_UNIT,
        "points": 1,
        "unit_amount": Decimal("10"),
        "unit_property": "amount",
        "rounding": Rounding.FLOOR,
        "point_definition_id": uuid4(),
        "active": True,
        "archived_at": None,
        "active_from": None,
        "active_until": None,
        **fields,
    }
    return EarningRule(**values)


WINDOW = {"active_from": T0, "active_until": T0 + timedelta(days=7)}


@pytest.mark.parametrize(
    ("fields", "event_type", "at", "props", "points", "reason"),
    [
        ({}, "purchase", T0, {"amount": 55}, 5, ""),
        ({}, "review", T0, {"amount": 55}, 0, "the rule is for `purchase` events"),
        ({"award_kind": AwardKind.FIXED, "points": 25}, "purchase", T0, {}, 25, ""),
        ({}, "purchase", T0, {}, 0, "no positive `amount`"),
        ({}, "purchase", T0, {"amount": "abc"}, 0, "no positive `amount`"),
        ({}, "purchase", T0, {"amount": 0}, 0, "no positive `amount`"),
        ({}, "purchase", T0, {"amount": 9}, 0, "earns less than one point"),
        ({"unit_property": "total"}, "purchase", T0, {"total": "120"}, 12, ""),
        ({"active": False}, "purchase", T0, {"amount": 55}, 0, "not active"),
        ({"archived_at": T0}, "purchase", T0, {"amount": 55}, 0, "archived"),
        (WINDOW, "purchase", T0, {"amount": 55}, 5, ""),  # the window's first instant
        (WINDOW, "purchase", T0 - timedelta(microseconds=1), {"amount": 55}, 0, "before"),
        (
            WINDOW,
            "purchase",
            T0 + timedelta(days=7) - timedelta(microseconds=1),
            {"amount": 55},
            5,
            "",
        ),
        (WINDOW, "purchase", T0 + timedelta(days=7), {"amount": 55}, 0, "after"),
        ({"conditions": {"all": [c("amount", "gte", 50)]}}, "purchase", T0, {"amount": 50}, 5, ""),
        (
            {"conditions": {"all": [c("amount", "gte", 50)]}},
            "purchase",
            T0,
            {"amount": 49.99},
            0,
            "amount 49.99 is not gte 50",
        ),
    ],
)
def test_rule_evaluation(
    fields: dict[str, Any],
    event_type: str,
    at: datetime,
    props: dict[str, Any],
    points: int,
    reason: str,
) -> None:
    verdict = evaluate(rule(**fields), event_type, at, props)
    assert verdict.points == points
    assert reason in verdict.reason and (verdict.reason == "") is (points > 0)
