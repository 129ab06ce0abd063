"""Guarded counter updates that return the new value in one round trip.

`UPDATE ... WHERE col + delta >= floor RETURNING col` is atomic on PostgreSQL and SQLite
(3.35+): a refused update changes no row, whatever the number of concurrent writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from models.db.params import Params


@dataclass(frozen=True)
class GuardedAdd:
    """`delta` added to the model's `column` of row `row_id` unless the result would fall
    below `floor`, returning the new value: run alone (`guarded_add`) or as the last part
    of a statement that also inserts rows (models.db.bulk_statements.PendingRows)."""

    model: type[Model]
    column: str
    row_id: UUID
    delta: int
    floor: int = 0

    def postgres(self, p: Params, *, only_if: str = "") -> str:
        """The statement, its values added to `p`; `only_if`: one more condition (SQL)."""
        table, column = self.model._meta.db_table, self.column
        delta, floor, row_id = p(self.delta), p(self.floor), p(self.row_id)
        also = f" AND {only_if}" if only_if else ""
        return (
            f'UPDATE "{table}" SET "{column}" = "{column}" + {delta} '
            f'WHERE "id" = {row_id} AND "{column}" + {delta} >= {floor}{also} '
            f'RETURNING "{column}"'
        )

    def sqlite(self) -> tuple[str, list[object]]:
        table, column = self.model._meta.db_table, self.column
        sql = (
            f'UPDATE "{table}" SET "{column}" = "{column}" + ? '
            f'WHERE "id" = ? AND "{column}" + ? >= ? RETURNING "{column}"'
        )
        return sql, [self.delta, str(self.row_id), self.delta, self.floor]

    def result(self, rows: list[dict[str, Any]]) -> int | None:
        """The new value from the statement's rows; None when refused."""
        return int(rows[0][self.column]) if rows else None


async def guarded_add(
    conn: BaseDBAsyncClient,
    model: type[Model],
    column: str,
    row_id: UUID,
    delta: int,
    floor: int = 0,
) -> int | None:
    """Add `delta` to the model's `column` unless the result would fall below `floor`.

    Returns the new value, or None when the row is missing or the guard refused.
    A NULL column (e.g. unlimited stock) matches no row and also returns None.
    """
    add = GuardedAdd(model, column, row_id, delta, floor)
    if conn.capabilities.dialect == "postgres":
        p = Params()
        sql, values = add.postgres(p), p.values
    else:
        sql, values = add.sqlite()
    # execute_query_dict fetches rows; execute_query drops RETURNING rows on PostgreSQL.
    return add.result(await conn.execute_query_dict(sql, values))
