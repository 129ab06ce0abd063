"""Members: upsert by the tenant backend, reads, and `me` for the widget."""

from __future__ import annotations

from typing import Any

import strawberry

from core.errors import DomainError
from models.db.pagination import paginate
from models.members.reads import members_for
from models.members.search import member_search
from models.members.upserts import upsert_member
from resolvers.auth import ANYONE, BACKEND, parse_id, require, target_member
from resolvers.errors import query_error
from schema.common import MemberError, PageInfo, user_error
from schema.loaders import loaders
from schema.members import Member, MemberConnection, MemberInput, MemberPayload


async def upsert_member_(info: strawberry.Info, input: MemberInput) -> MemberPayload:
    principal = require(info, BACKEND)
    fields: dict[str, Any] = {
        name: getattr(input, name)
        for name in ("email", "name", "address", "tier_id")
        if getattr(input, name) is not strawberry.UNSET
    }
    try:
        if fields.get("tier_id") is not None:
            fields["tier_id"] = parse_id(fields["tier_id"], "tierId")
        member, created = await upsert_member(principal.tenant_id, input.external_user_id, **fields)
    except DomainError as exc:
        return MemberPayload(errors=[user_error(MemberError, exc)])
    return MemberPayload(member=Member.from_model(member), created=created)


async def members(
    info: strawberry.Info,
    first: int | None = None,
    after: str | None = None,
    search: str | None = None,
) -> MemberConnection:
    principal = require(info, BACKEND)
    with query_error():
        page = await paginate(member_search(members_for(principal.reader), search), first, after)
    return MemberConnection(
        nodes=[Member.from_model(m) for m in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


async def member(
    info: strawberry.Info, id: strawberry.ID | None = None, external_user_id: str | None = None
) -> Member | None:
    principal = require(info, ANYONE)
    try:
        found = await target_member(principal, id, external_user_id)
    except DomainError:
        return None
    return Member.from_model(found)


async def me(info: strawberry.Info) -> Member | None:
    principal = require(info, ("member",))
    found = await loaders(info).member.load(principal.subject_id)
    return Member.from_model(found) if found else None
