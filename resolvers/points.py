"""Awarding and deducting points; reading the ledger."""

from __future__ import annotations

import strawberry

from core.errors import DomainError
from models.pointmaster.modes import require_engine_owns, require_local_history
from models.points.awards import AwardRequest, award_points, resolve_definition
from models.points.grants import account_view
from models.points.history import ledger_page
from models.points.reads import ledger_for
from models.points.tables import LedgerSource as SourceModel
from resolvers.auth import ANYONE, BACKEND, parse_id, require, target_member
from resolvers.errors import query_error
from schema.common import PageInfo, PointsError, user_error
from schema.points import (
    AwardPointsInput,
    LedgerConnection,
    LedgerEntry,
    PointAccount,
    PointGrant,
    PointsPayload,
)


async def award_points_(info: strawberry.Info, input: AwardPointsInput) -> PointsPayload:
    """Award (amount > 0) or deduct (amount < 0) points, idempotent with a key."""
    principal = require(info, BACKEND)
    try:
        member = await target_member(principal, input.member_id, input.external_user_id)
        definition = await resolve_definition(
            principal.tenant_id, parse_id(input.point_definition_id, "pointDefinitionId")
        )
        await require_engine_owns(definition)
        posted = await award_points(
            AwardRequest(
                tenant_id=principal.tenant_id,
                member_id=member.id,
                definition_id=definition.id,
                amount=input.amount,
                source=SourceModel(input.source),
                description=input.description,
                valid_from=input.valid_from,
                valid_to=input.valid_to,
                idempotency_key=input.idempotency_key,
                actor=principal.actor,
            ),
            (member, definition),
        )
    except DomainError as exc:
        return PointsPayload(errors=[user_error(PointsError, exc)])
    return PointsPayload(
        entry=LedgerEntry.from_model(posted.entry) if posted.entry else None,
        grant=PointGrant.from_model(posted.grant) if posted.grant else None,
        account=await PointAccount.from_view(await account_view(posted.account), definition),
    )


async def ledger(
    info: strawberry.Info,
    member_id: strawberry.ID | None = None,
    external_user_id: str | None = None,
    point_definition_id: strawberry.ID | None = None,
    first: int | None = None,
    after: str | None = None,
) -> LedgerConnection:
    """A member's ledger entries, newest first in the order balances moved (members read
    only their own).

    Refused with HISTORY_AT_MASTER for a currency in FOLLOWER_BALANCE mode (without
    `pointDefinitionId`: if any of the member's currencies is): the master sends only
    totals, so the history is the master's points log (`pointsLog`)."""
    principal = require(info, ANYONE)
    with query_error():
        member = await target_member(principal, member_id, external_user_id)
        query = ledger_for(principal.reader).filter(account__member_id=member.id)
        definition_id = parse_id(point_definition_id, "pointDefinitionId")
        if definition_id is not None:
            query = query.filter(account__definition_id=definition_id)
        await require_local_history(principal.tenant_id, member.id, definition_id)
        page = await ledger_page(query, first, after)
    return LedgerConnection(
        nodes=[LedgerEntry.from_model(e) for e in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )
