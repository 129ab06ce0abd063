"""Hot reads of rows by id in statements of fixed text, built into models as Tortoise
builds them from its own SELECTs.

A redemption reads its member and its reward on every request. Through the query builder
each read costs 0.1-0.5 ms of CPU before it is sent (the builder's work, and more with
`select_related`); a fixed text costs none of it, and PostgreSQL reuses its prepared
statement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from tortoise.models import Model

from models.db.params import query

M = TypeVar("M", bound=Model)


async def tenant_row(model: type[M], tenant_id: UUID, row_id: UUID) -> M | None:
    """The row `row_id` of a tenant's table, if it is the tenant's."""
    rows = await query(
        'SELECT * FROM "{table}" WHERE "tenant_id" = {} AND "id" = {}',
        tenant_id,
        row_id,
        table=model._meta.db_table,
    )
    return model._init_from_db(**rows[0]) if rows else None


def model_of(model: type[M], record: Mapping[str, Any]) -> M:
    """A row read as a row value of its table (asyncpg decodes it to a record)."""
    return model._init_from_db(**dict(record))


def with_related(instance: M, **related: tuple[type[Model], Any]) -> M:
    """`instance` with related rows read in the same statement, each a (model, record)
    pair whose record is None when there is none (as `select_related` attaches them)."""
    for name, (model, record) in related.items():
        object.__setattr__(
            instance, f"_{name}", None if record is None else model_of(model, record)
        )
    return instance
