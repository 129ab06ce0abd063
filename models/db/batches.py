"""Reading many rows in one statement, answered key by key: what a DataLoader's batch
function needs. The querysets come already cut to the caller (the domains' `reads.py`),
so a key outside it answers None (by id) or nothing (by parent)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

T = TypeVar("T", bound=Model)


async def by_ids(query: QuerySet[T], ids: Sequence[Any]) -> list[T | None]:
    """The row of each id, in the order asked; None where the query has none."""
    if not ids:
        return []
    rows = {row.pk: row for row in await query.filter(id__in=set(ids))}
    return [rows.get(i) for i in ids]


async def grouped(query: QuerySet[T], field: str, keys: Sequence[Hashable]) -> list[list[T]]:
    """The rows of each key of `field` (a foreign key's column), in the order asked, each
    list in the query's own order."""
    if not keys:
        return []
    groups: dict[Hashable, list[T]] = defaultdict(list)
    for row in await query.filter(**{f"{field}__in": set(keys)}):
        groups[getattr(row, field)].append(row)
    return [groups.get(k, []) for k in keys]
