"""Redeeming, completing (callback), confirming and cancelling; redemption reads."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from core.errors import DomainError
from core.metrics import count_redemption
from models.db.pagination import paginate
from models.members.reads import member_id_named
from models.redemptions.lifecycle import Via, transition
from models.redemptions.reads import redemptions_for
from models.redemptions.redeem import RedeemRequest, redeem_with_effects
from models.redemptions.tables import RedemptionStatus as StatusModel
from resolvers.auth import ADMIN, ANYONE, parse_id, require, target_member
from resolvers.errors import query_error
from schema.common import PageInfo, RedemptionError, user_error
from schema.redemptions import (
    CompletionStatus,
    Redemption,
    RedemptionConnection,
    RedemptionFilter,
    RedemptionPayload,
)


async def redeem_reward(
    info: strawberry.Info,
    reward_id: strawberry.ID,
    quantity: int = 1,
    idempotency_key: str | None = None,
    member_id: strawberry.ID | None = None,
    external_user_id: str | None = None,
) -> RedemptionPayload:
    """Members redeem for themselves; the tenant backend names the member."""
    principal = require(info, ANYONE)
    try:
        # A member named by id is read along with the reward (one statement).
        member = None
        named = member_id_named(
            principal.reader, parse_id(member_id or None, "memberId"), external_user_id
        )
        if named is None:
            member = await target_member(principal, None, external_user_id)
            named = member.id
        redeemed = await redeem_with_effects(
            RedeemRequest(
                tenant_id=principal.tenant_id,
                member_id=named,
                reward_id=parse_id(reward_id, "rewardId"),  # type: ignore[arg-type]
                quantity=quantity,
                idempotency_key=idempotency_key,
                actor=principal.actor,
            ),
            member,
        )
    except DomainError as exc:
        count_redemption(exc.code)
        return RedemptionPayload(errors=[user_error(RedemptionError, exc)])
    count_redemption("REPLAYED" if redeemed.replayed else "REDEEMED")
    return RedemptionPayload(redemption=Redemption.from_model(redeemed.redemption))


async def _move(
    info: strawberry.Info,
    id: strawberry.ID,
    target: StatusModel,
    via: Via,
    data: JSON | None = None,
    reason: str | None = None,
) -> RedemptionPayload:
    principal = require(info, ADMIN if via == Via.ADMIN else ("api_key",))
    try:
        moved = await transition(
            principal.tenant_id,
            parse_id(id, "id"),  # type: ignore[arg-type]
            target,
            via,
            actor=principal.actor,
            data=cast(dict[str, Any] | None, data),
            reason=reason,
        )
    except DomainError as exc:
        return RedemptionPayload(errors=[user_error(RedemptionError, exc)])
    return RedemptionPayload(redemption=Redemption.from_model(moved.redemption))


async def complete_redemption(
    info: strawberry.Info,
    id: strawberry.ID,
    status: CompletionStatus,
    data: JSON | None = None,
    reason: str | None = None,
) -> RedemptionPayload:
    """The fulfilment backend's callback: FULFILLED (e.g. with a voucher code), FAILED, ..."""
    return await _move(info, id, StatusModel(status.value), Via.CALLBACK, data, reason)


async def confirm_redemption(
    info: strawberry.Info, id: strawberry.ID, data: JSON | None = None, reason: str | None = None
) -> RedemptionPayload:
    return await _move(info, id, StatusModel.FULFILLED, Via.ADMIN, data, reason)


async def cancel_redemption(
    info: strawberry.Info, id: strawberry.ID, reason: str | None = None
) -> RedemptionPayload:
    """FAILED: the points are refunded and the stock returned, exactly once."""
    return await _move(info, id, StatusModel.FAILED, Via.ADMIN, None, reason)


async def redemptions(
    info: strawberry.Info,
    filter: RedemptionFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> RedemptionConnection:
    """Newest first. Members see only their own."""
    principal = require(info, ANYONE)
    with query_error():
        query = redemptions_for(principal.reader)
        if filter is not None:
            if filter.status:
                query = query.filter(status__in=[StatusModel(s) for s in filter.status])
            if filter.member_id is not None:
                member = await target_member(principal, filter.member_id, None)
                query = query.filter(member_id=member.id)
            if filter.reward_id is not None:
                query = query.filter(reward_id=parse_id(filter.reward_id, "rewardId"))
            if filter.created_after is not None:
                query = query.filter(created_at__gte=filter.created_after)
            if filter.created_before is not None:
                query = query.filter(created_at__lt=filter.created_before)
        page = await paginate(query, first, after)
    return RedemptionConnection(
        nodes=[Redemption.from_model(r) for r in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


async def redemption(info: strawberry.Info, id: strawberry.ID) -> Redemption | None:
    principal = require(info, ANYONE)
    try:
        redemption_id = parse_id(id, "id")
    except DomainError:
        return None
    found = await redemptions_for(principal.reader).get_or_none(id=redemption_id)
    return Redemption.from_model(found) if found else None
