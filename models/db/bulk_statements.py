"""Many rows in one statement: INSERT (optionally skipping conflicts) and UPDATE by key.

PostgreSQL gets one statement whatever the number of rows: each column is sent as one
array and unnest-ed, so the statement text (and asyncpg's prepared statement) is the same
for any count. SQLite, in-process with no round trip to save, gets multi-row VALUES.
Column types come from the Tortoise model; values are given as the database stores them
(UUIDs, aware datetimes, ints, strings).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

SQLITE_ROWS = 500  # rows per statement: well under SQLite's limit on bound values


async def insert_rows(
    conn: BaseDBAsyncClient,
    model: type[Model],
    rows: list[dict[str, Any]],
    *,
    ignore_conflicts: bool = False,
    returning: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """INSERT the rows in the given order; with `ignore_conflicts`, rows that hit a unique
    constraint are skipped. Returns the `returning` columns of the rows inserted."""
    if not rows:
        return []
    table, columns = model._meta.db_table, list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if returning:
        tail += " RETURNING " + ", ".join(f'"{c}"' for c in returning)
    if conn.capabilities.dialect == "postgres":
        arrays = ", ".join(f"${n}::{_pg_type(model, c)}[]" for n, c in enumerate(columns, 1))
        picked = ", ".join(f'u."{c}"' for c in columns)
        sql = (
            f'INSERT INTO "{table}" ({names}) SELECT {picked} '
            f'FROM unnest({arrays}) WITH ORDINALITY AS u({names}, "ordinality") '
            f'ORDER BY u."ordinality"{tail}'
        )
        return await conn.execute_query_dict(sql, [[row[c] for row in rows] for c in columns])
    inserted: list[dict[str, Any]] = []
    one = "(" + ", ".join("?" * len(columns)) + ")"
    for start in range(0, len(rows), SQLITE_ROWS):
        part = rows[start : start + SQLITE_ROWS]
        sql = f'INSERT INTO "{table}" ({names}) VALUES {", ".join([one] * len(part))}{tail}'
        values = [_sqlite(row[c]) for row in part for c in columns]
        inserted += await conn.execute_query_dict(sql, values)
    return inserted


async def update_rows(
    conn: BaseDBAsyncClient, model: type[Model], key: str, rows: list[dict[str, Any]]
) -> int:
    """UPDATE each row (matched on `key`) to the values given; returns the rows updated."""
    if not rows:
        return 0
    table, columns = model._meta.db_table, [c for c in rows[0] if c != key]
    if conn.capabilities.dialect == "postgres":
        ordered = [key, *columns]
        arrays = ", ".join(f"${n}::{_pg_type(model, c)}[]" for n, c in enumerate(ordered, 1))
        names = ", ".join(f'"{c}"' for c in ordered)
        assignments = ", ".join(f'"{c}" = v."{c}"' for c in columns)
        sql = (
            f'UPDATE "{table}" AS t SET {assignments} FROM unnest({arrays}) AS v({names}) '
            f'WHERE t."{key}" = v."{key}" RETURNING t."{key}"'
        )
        updated = await conn.execute_query_dict(sql, [[row[c] for row in rows] for c in ordered])
        return len(updated)
    assignments = ", ".join(f'"{c}" = ?' for c in columns)
    sql = f'UPDATE "{table}" SET {assignments} WHERE "{key}" = ? RETURNING "{key}"'
    count = 0
    for row in rows:
        values = [_sqlite(row[c]) for c in columns] + [_sqlite(row[key])]
        count += len(await conn.execute_query_dict(sql, values))
    return count


def _pg_type(model: type[Model], column: str) -> str:
    field = model._meta.fields_map.get(column)
    if field is None or field.source_field not in (None, column):
        # a foreign key's column (`account_id`): the type of the related primary key
        relation = model._meta.fields_map[column.removesuffix("_id")]
        field = relation.related_model._meta.pk  # type: ignore[attr-defined]
    return str(field.get_for_dialect("postgres", "SQL_TYPE"))


def _sqlite(value: Any) -> Any:
    return str(value) if isinstance(value, UUID) else value
