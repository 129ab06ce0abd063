"""What a caller may read of members and tiers (models.tenancy.readers): the tenant's;
a member token only itself. Batches by id for the schema's loaders."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tortoise.queryset import QuerySet

from core.errors import InvalidInput, NotFound
from models.db.batches import by_ids
from models.db.plain_reads import tenant_row
from models.members.tables import MAX_EXTERNAL_ID, Member, Tier
from models.tenancy.facts import tenant_facts
from models.tenancy.readers import Reader


def members_for(reader: Reader) -> QuerySet[Member]:
    query = Member.filter(tenant_id=reader.tenant_id)
    if reader.member_id is not None:
        query = query.filter(id=reader.member_id)
    return query


async def member_by_external_id(reader: Reader, external_user_id: str) -> Member | None:
    if len(external_user_id) > MAX_EXTERNAL_ID:
        return None  # no member has it; Tortoise would refuse to look it up
    return await members_for(reader).get_or_none(external_user_id=external_user_id)


def member_id_named(
    reader: Reader, member_id: UUID | None, external_user_id: str | None
) -> UUID | None:
    """The id of the member a request names by id: a member token names itself (by its own
    id, or by naming no one), a backend gives `memberId`. None: a backend names it by the
    tenant's id for it. Raises NotFound when a member token names anyone else."""
    if reader.member_id is not None:
        if external_user_id is not None or member_id not in (None, reader.member_id):
            raise NotFound("Member not found", field="memberId")
        return reader.member_id
    if (member_id is None) == (external_user_id is None):
        raise InvalidInput("Give memberId or externalUserId", field="memberId")
    return member_id


async def member_named(
    reader: Reader, member_id: UUID | None, external_user_id: str | None
) -> Member | None:
    """The member a request names (`member_id_named`); None when the tenant has none."""
    named = member_id_named(reader, member_id, external_user_id)
    if named is not None:
        return await tenant_row(Member, reader.tenant_id, named)
    return await member_by_external_id(reader, external_user_id or "")


def tiers_for(reader: Reader) -> QuerySet[Tier]:
    """Tiers are the tenant's catalogue of levels: every caller of the tenant reads them."""
    return Tier.filter(tenant_id=reader.tenant_id)


async def members_by_id(reader: Reader, ids: Sequence[UUID]) -> list[Member | None]:
    return await by_ids(members_for(reader), ids)


async def tiers_by_id(reader: Reader, ids: Sequence[UUID]) -> list[Tier | None]:
    """From the tenant's cached facts (models.tenancy.facts): shared rows, read only."""
    tiers = (await tenant_facts(reader.tenant_id)).tiers
    return [tiers.get(i) for i in ids]
