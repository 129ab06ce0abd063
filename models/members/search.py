"""Finding members by what staff know of them: the tenant's id, an email or a name."""

from __future__ import annotations

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from core.errors import InvalidInput
from models.members.tables import Member

MAX_SEARCH_LENGTH = 200


def member_search(query: QuerySet[Member], text: str | None) -> QuerySet[Member]:
    """The members of `query` (models.members.reads.members_for) whose external id, email
    or name contains `text` (any case); all of them when `text` is empty."""
    needle = (text or "").strip()
    if len(needle) > MAX_SEARCH_LENGTH:
        raise InvalidInput(f"Search at most {MAX_SEARCH_LENGTH} characters", field="search")
    if needle:
        query = query.filter(
            Q(external_user_id__icontains=needle)
            | Q(email__icontains=needle)
            | Q(name__icontains=needle)
        )
    return query
