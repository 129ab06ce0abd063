"""Guarded counter updates that return the new value in one round trip.

`UPDATE ... WHERE col + delta >= floor RETURNING col` is atomic on PostgreSQL and SQLite
(3.35+): a refused update changes no row, whatever the number of concurrent writers.
"""

from __future__ import annotations

from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model


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
    table = model._meta.db_table
    if conn.capabilities.dialect == "postgres":
        sql = (
            f'UPDATE "{table}" SET "{column}" = "{column}" + $1 '
            f'WHERE "id" = $3 AND "{column}" + $1 >= $2 RETURNING "{column}"'
        )
        values: list[object] = [delta, floor, row_id]
    else:
        sql = (
            f'UPDATE "{table}" SET "{column}" = "{column}" + ? '
            f'WHERE "id" = ? AND "{column}" + ? >= ? RETURNING "{column}"'
        )
        values = [delta, str(row_id), delta, floor]
    # execute_query_dict fetches rows; execute_query drops RETURNING rows on PostgreSQL.
    rows = await conn.execute_query_dict(sql, values)
    if not rows:
        return None
    return int(rows[0][column])
