"""Earning rules as an admin saves them: create, update (only the fields given), archive."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError

from core import clock
from core.errors import ErrorCode, InvalidInput, NotFound, Refused
from models.db.field_limits import MAX_DESCRIPTION, check_text
from models.db.transactions import atomic
from models.points.awards import MAX_AMOUNT, resolve_definition
from models.programme.codes import ProgrammeCode
from models.programme.conditions import check_conditions
from models.programme.tables import AwardKind, EarningRule, Rounding

UNSET: Any = object()
BUILT_IN_TYPES = ("purchase", "signup", "birthday", "review", "referral", "return")
_CUSTOM_TYPE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
MAX_DAYS = 36_600


def check_event_type(value: Any, field: str = "type") -> str:
    """A built-in type or a custom one: lower case letters, digits, `_ . : -`, 1-64."""
    if not isinstance(value, str) or not _CUSTOM_TYPE.match(value.strip().lower()):
        raise InvalidInput(
            "An event type is purchase, signup, birthday, review, referral, return, or a "
            "custom name of 1-64 lower case letters, digits and _ . : -",
            field=field,
            code=ProgrammeCode.INVALID_EVENT_TYPE,
        )
    return value.strip().lower()


@dataclass
class RuleFields:
    """What an admin sets; UNSET leaves a field as it is (update)."""

    name: Any = UNSET
    description: Any = UNSET
    event_type: Any = UNSET
    conditions: Any = UNSET
    award_kind: Any = UNSET
    points: Any = UNSET
    unit_amount: Any = UNSET
    unit_property: Any = UNSET
    rounding: Any = UNSET
    definition_id: Any = UNSET
    pending_days: Any = UNSET
    validity_days: Any = UNSET
    cap_member_day: Any = UNSET
    cap_member_month: Any = UNSET
    cap_total: Any = UNSET
    active_from: Any = UNSET
    active_until: Any = UNSET
    active: Any = UNSET

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not UNSET
        }


_REQUIRED = ("name", "event_type", "award_kind", "points")
_NOT_NULL = (
    "name",
    "event_type",
    "award_kind",
    "points",
    "rounding",
    "unit_property",
    "active",
    "pending_days",
)
_CAMEL = {
    "event_type": "eventType",
    "award_kind": "awardKind",
    "unit_amount": "unitAmount",
    "unit_property": "unitProperty",
    "pending_days": "pendingDays",
    "validity_days": "validityDays",
    "cap_member_day": "capPerMemberDay",
    "cap_member_month": "capPerMemberMonth",
    "cap_total": "capTotal",
    "active_from": "activeFrom",
    "active_until": "activeUntil",
    "definition_id": "pointDefinitionId",
}


def _field(name: str) -> str:
    return _CAMEL.get(name, name)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """Validated column values (field by field; the whole is checked by _check_rule)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None and name in _NOT_NULL:
            raise InvalidInput("Required", field=_field(name), code=ErrorCode.REQUIRED)
        if name == "name":
            value = str(value).strip()
            if not 1 <= len(value) <= 100:
                raise InvalidInput("Use 1-100 characters", field="name")
        elif name == "description":
            value = value or ""
            check_text(value, MAX_DESCRIPTION, "description")
        elif name == "event_type":
            value = check_event_type(value, "eventType")
        elif name == "conditions":
            value = check_conditions(value)
        elif name == "award_kind":
            value = AwardKind(value)
        elif name == "rounding":
            value = Rounding(value)
        elif name == "unit_property":
            value = str(value).strip()
            if not 1 <= len(value) <= 100:
                raise InvalidInput("Use 1-100 characters", field="unitProperty")
        elif name == "unit_amount" and value is not None:
            try:
                value = Decimal(str(value))
            except InvalidOperation:
                raise InvalidInput("A positive amount", field="unitAmount") from None
            if not value.is_finite() or value <= 0 or value >= Decimal("1e14"):
                raise InvalidInput("A positive amount below 10^14", field="unitAmount")
            if value != value.quantize(Decimal("0.0001")):
                raise InvalidInput("At most 4 decimal places", field="unitAmount")
        elif name == "points":
            if not 1 <= int(value) <= MAX_AMOUNT:
                raise InvalidInput("Points must be 1 to 10^9", field="points")
        elif name in ("pending_days", "validity_days") and value is not None:
            low = 0 if name == "pending_days" else 1
            if not low <= int(value) <= MAX_DAYS:
                raise InvalidInput(f"Use {low} to {MAX_DAYS} days", field=_field(name))
        elif name.startswith("cap_") and value is not None:
            if not 1 <= int(value) <= 2**62:
                raise InvalidInput("A cap is a positive number of points", field=_field(name))
        elif name == "active":
            value = bool(value)
        out[name] = value
    return out


def _check_rule(rule: EarningRule) -> None:
    if rule.award_kind == AwardKind.PER_UNIT and rule.unit_amount is None:
        raise InvalidInput(
            "A per-unit award needs unitAmount (e.g. 10: points per 10 currency units)",
            field="unitAmount",
            code=ErrorCode.REQUIRED,
        )
    if rule.award_kind == AwardKind.FIXED:
        rule.unit_amount = None
    if rule.event_type == "return":
        raise InvalidInput(
            "A return takes back what its order earned; rules award on other events",
            field="eventType",
            code=ProgrammeCode.INVALID_EVENT_TYPE,
        )
    if rule.active_from and rule.active_until and rule.active_until <= rule.active_from:
        raise InvalidInput("activeUntil must be after activeFrom", field="activeUntil")


async def _apply(tenant_id: UUID, rule: EarningRule, values: dict[str, Any]) -> None:
    definition_id = values.pop("definition_id", UNSET)
    if definition_id is not UNSET:
        rule.point_definition_id = (await resolve_definition(tenant_id, definition_id)).id
    for name, value in values.items():
        setattr(rule, name, value)
    _check_rule(rule)


async def create_rule(tenant_id: UUID, data: RuleFields) -> EarningRule:
    given = data.given()
    for name in _REQUIRED:
        if given.get(name) is None:
            raise InvalidInput("Required", field=_field(name), code=ErrorCode.REQUIRED)
    values = _clean(given)
    now = clock.now()
    rule = EarningRule(
        id=uuid4(), tenant_id=tenant_id, conditions={}, created_at=now, updated_at=now
    )
    values.setdefault("definition_id", None)  # the default currency
    await _apply(tenant_id, rule, values)
    return await _save(rule, create=True)


async def update_rule(tenant_id: UUID, rule_id: UUID | None, data: RuleFields) -> EarningRule:
    values = _clean(data.given())
    rule = await get_rule(tenant_id, rule_id)
    if rule.archived_at is not None:
        raise Refused("An archived rule cannot be changed", code=ProgrammeCode.ARCHIVED)
    await _apply(tenant_id, rule, values)
    rule.updated_at = clock.now()
    return await _save(rule, create=False)


async def archive_rule(tenant_id: UUID, rule_id: UUID | None) -> EarningRule:
    """Archived rules award nothing more and keep their awards' history."""
    rule = await get_rule(tenant_id, rule_id)
    if rule.archived_at is None:
        now = clock.now()
        await EarningRule.filter(id=rule.id, archived_at__isnull=True).update(
            archived_at=now, active=False, updated_at=now
        )
        await rule.refresh_from_db()
    return rule


async def get_rule(tenant_id: UUID, rule_id: UUID | None) -> EarningRule:
    rule = await EarningRule.get_or_none(id=rule_id, tenant_id=tenant_id) if rule_id else None
    if rule is None:
        raise NotFound("Earning rule not found", field="id")
    return rule


async def list_rules(
    tenant_id: UUID, *, include_archived: bool = False, event_type: str | None = None
) -> list[EarningRule]:
    query = EarningRule.filter(tenant_id=tenant_id)
    if not include_archived:
        query = query.filter(archived_at__isnull=True)
    if event_type is not None:
        query = query.filter(event_type=check_event_type(event_type, "eventType"))
    return await query.order_by("created_at", "id")


async def _save(rule: EarningRule, *, create: bool) -> EarningRule:
    try:
        async with atomic() as conn:
            await rule.save(using_db=conn, force_create=create)
    except IntegrityError:
        raise InvalidInput(
            "Another rule has this name", field="name", code=ErrorCode.DUPLICATE
        ) from None
    return rule
