"""Earning rules (admins), events (backends and admins), the dry run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from core.errors import DomainError
from models.programme.events import EventInput, track_event
from models.programme.rules import RuleFields, archive_rule, create_rule, list_rules, update_rule
from models.programme.simulation import simulate_event
from resolvers.auth import ADMIN, BACKEND, parse_id, require
from resolvers.errors import query_error
from schema.programme import (
    EarningRule,
    EarningRuleInput,
    EarningRulePayload,
    EventSimulation,
    MemberEvent,
    ProgrammeError,
    RuleAward,
    SimulatedAward,
    TrackEventInput,
    TrackEventPayload,
)

_RENAMED = {
    "point_definition_id": "definition_id",
    "cap_per_member_day": "cap_member_day",
    "cap_per_member_month": "cap_member_month",
}


def _fields(data: EarningRuleInput) -> RuleFields:
    values: dict[str, Any] = {}
    for name, value in vars(data).items():
        if value is strawberry.UNSET:
            continue
        if name == "point_definition_id" and value is not None:
            value = parse_id(value, "pointDefinitionId")
        values[_RENAMED.get(name, name)] = value
    return RuleFields(**values)


async def create_earning_rule(info: strawberry.Info, input: EarningRuleInput) -> EarningRulePayload:
    principal = require(info, ADMIN)
    try:
        rule = await create_rule(principal.tenant_id, _fields(input))
    except DomainError as exc:
        return EarningRulePayload(errors=[ProgrammeError.from_error(exc)])
    return EarningRulePayload(rule=EarningRule.from_model(rule))


async def update_earning_rule(
    info: strawberry.Info, id: strawberry.ID, input: EarningRuleInput
) -> EarningRulePayload:
    principal = require(info, ADMIN)
    try:
        rule = await update_rule(principal.tenant_id, parse_id(id, "id"), _fields(input))
    except DomainError as exc:
        return EarningRulePayload(errors=[ProgrammeError.from_error(exc)])
    return EarningRulePayload(rule=EarningRule.from_model(rule))


async def archive_earning_rule(info: strawberry.Info, id: strawberry.ID) -> EarningRulePayload:
    """It awards nothing more; its awards stay in the history."""
    principal = require(info, ADMIN)
    try:
        rule = await archive_rule(principal.tenant_id, parse_id(id, "id"))
    except DomainError as exc:
        return EarningRulePayload(errors=[ProgrammeError.from_error(exc)])
    return EarningRulePayload(rule=EarningRule.from_model(rule))


async def earning_rules(
    info: strawberry.Info, include_archived: bool = False, event_type: str | None = None
) -> list[EarningRule]:
    """The tenant's rules, oldest first (admins and API keys)."""
    principal = require(info, BACKEND)
    with query_error():
        rules = await list_rules(
            principal.tenant_id, include_archived=include_archived, event_type=event_type
        )
    return [EarningRule.from_model(r) for r in rules]


async def track_event_(info: strawberry.Info, input: TrackEventInput) -> TrackEventPayload:
    """A member event: every active rule for its type awards what it earns, once per key."""
    principal = require(info, BACKEND)
    try:
        tracked = await track_event(
            principal.tenant_id,
            EventInput(
                external_user_id=input.external_user_id,
                type=input.type,
                idempotency_key=input.idempotency_key,
                properties=input.properties if input.properties is not None else {},  # type: ignore[arg-type]
                occurred_at=input.occurred_at,
            ),
            actor=principal.actor,
        )
    except DomainError as exc:
        return TrackEventPayload(errors=[ProgrammeError.from_error(exc)])
    return TrackEventPayload(
        event=MemberEvent.from_model(tracked.event),
        awards=[RuleAward.from_model(a) for a in tracked.awards],
        points=tracked.points,
        replayed=tracked.replayed,
    )


async def simulate_event_(
    info: strawberry.Info,
    type: str,
    properties: JSON | None = None,
    occurred_at: datetime | None = None,
    external_user_id: str | None = None,
) -> EventSimulation:
    """Dry run: what each rule for the type would award now, and why not. Writes nothing."""
    principal = require(info, BACKEND)
    with query_error():
        outcomes = await simulate_event(
            principal.tenant_id, type, properties, occurred_at, external_user_id
        )
    return EventSimulation(
        awards=[
            SimulatedAward(
                rule=EarningRule.from_model(o.rule),
                points=o.points,
                requested=o.requested,
                reason=o.reason,
            )
            for o in outcomes
        ],
        points=sum(o.points for o in outcomes),
    )
