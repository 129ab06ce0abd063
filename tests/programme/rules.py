"""Rules and events for the programme tests, through the domain functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from models.programme.events import EventInput, Tracked, track_event
from models.programme.rules import RuleFields, create_rule
from models.programme.tables import AwardKind, EarningRule


async def make_rule(tenant_id: UUID, **fields: Any) -> EarningRule:
    fields.setdefault("name", f"rule {fields.get('event_type', 'purchase')} {id(fields)}")
    fields.setdefault("event_type", "purchase")
    fields.setdefault("award_kind", AwardKind.FIXED)
    fields.setdefault("points", 10)
    return await create_rule(tenant_id, RuleFields(**fields))


async def track(
    tenant_id: UUID,
    external_user_id: str,
    key: str,
    type_: str = "purchase",
    occurred_at: datetime | None = None,
    **properties: Any,
) -> Tracked:
    return await track_event(
        tenant_id,
        EventInput(external_user_id, type_, key, properties, occurred_at),
        actor="test",
    )
