"""Many rows in one statement: INSERT (optionally skipping conflicts) and UPDATE by key.

PostgreSQL gets one statement whatever the number of rows: each column is sent as one
array and unnest-ed, so the statement text (and asyncpg's prepared statement) is the same
for any count. SQLite, in-process with no round trip to save, gets multi-row VALUES.
Column types come from the Tortoise model; values are given as the database stores them
(UUIDs, aware datetimes, ints, strings).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import Field
from tortoise.models import Model

from models.db.guarded_updates import GuardedAdd
from models.db.params import Params, Sql

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
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if returning:
        tail += " RETURNING " + ", ".join(f'"{c}"' for c in returning)
    if conn.capabilities.dialect == "postgres":
        p = Params()
        return await conn.execute_query_dict(_pg_insert(model, rows, p) + tail, p.values)
    inserted: list[dict[str, Any]] = []
    names = ", ".join(f'"{c}"' for c in columns)
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
        arrays = ", ".join(f"${n}::{pg_type(model, c)}[]" for n, c in enumerate(ordered, 1))
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


class PendingRows:
    """A transaction's new rows, held back to be written with its next statement: on
    PostgreSQL the INSERTs ride on that statement as data-modifying CTEs (one round trip
    for all of them); on SQLite, in-process with no round trip to save, they run one after
    another. Rows are inserted in the order they were added; a row may refer to one added
    before it (foreign keys are checked at the end of the statement)."""

    def __init__(self) -> None:
        self._objects: list[Model] = []

    def add(self, *objects: Model) -> None:
        self._objects.extend(objects)

    async def write(self, conn: BaseDBAsyncClient, then: GuardedAdd | None = None) -> int | None:
        """Insert what was added, then make `then` (in the same statement on PostgreSQL):
        returns its new value, None when it was refused. A refused `then` leaves the rows
        written: the caller refuses in its transaction, which rolls them back."""
        objects, self._objects = self._objects, []
        groups: list[tuple[type[Model], list[dict[str, Any]]]] = []
        for obj in objects:
            if groups and groups[-1][0] is type(obj):
                groups[-1][1].append(row_of(obj))
            else:
                groups.append((type(obj), [row_of(obj)]))
        rows: list[dict[str, Any]] = []
        if conn.capabilities.dialect == "postgres":
            p = Params()
            parts = [_pg_insert(model, group, p) for model, group in groups]
            if then is not None:
                last = then.postgres(p)
            elif parts:
                last = parts.pop()
            else:
                return None
            ctes = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(parts))
            rows = await conn.execute_query_dict(f"WITH {ctes} {last}" if ctes else last, p.values)
        else:
            for model, group in groups:
                await insert_rows(conn, model, group)
            if then is not None:
                rows = await conn.execute_query_dict(*then.sqlite())
        for obj in objects:
            obj._saved_in_db = True  # as save() leaves it: a later save() is an UPDATE
        return then.result(rows) if then is not None else None


def row_of(obj: Model) -> dict[str, Any]:
    """The column values Tortoise's own INSERT writes for `obj` (a generated primary key
    is left to the database)."""
    return {
        column: field.to_db_value(getattr(obj, name), obj)
        for name, column, field in _inserted(type(obj))
    }


def db_row(model: type[Model], values: Mapping[str, Any]) -> dict[str, Any]:
    """`row_of(model(**values))` without making the model, which costs as much again as
    the row: each field not in `values` at its default. Not for a model with
    `auto_now`/`auto_now_add` fields, whose values the model itself makes (TypeError)."""
    row = {}
    for name, column, field in _without_own_times(model):
        if name in values:
            value = values[name]
        else:
            value = field.default() if callable(field.default) else field.default
        row[column] = field.to_db_value(value, model)
    return row


@functools.cache
def _inserted(model: type[Model]) -> list[tuple[str, str, Field[Any]]]:
    """(field name, column, field) of what an INSERT of `model` writes, in Tortoise's order."""
    meta = model._meta
    return [
        (name, column, meta.fields_map[name])
        for name, column in meta.fields_db_projection.items()
        if column not in meta.generated_db_fields
    ]


@functools.cache
def _without_own_times(model: type[Model]) -> list[tuple[str, str, Field[Any]]]:
    fields = _inserted(model)
    for name, _, field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            raise TypeError(f"{model.__name__}.{name} is set by the model itself: use row_of")
    return fields


def _pg_insert(model: type[Model], rows: list[dict[str, Any]], p: Params) -> str:
    """PostgreSQL's INSERT of `rows`, one array parameter per column, in the given order."""
    table, columns = model._meta.db_table, list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    arrays = ", ".join(p([row[c] for row in rows], f"{pg_type(model, c)}[]") for c in columns)
    picked = ", ".join(f'u."{c}"' for c in columns)
    return (
        f'INSERT INTO "{table}" ({names}) SELECT {picked} '
        f'FROM unnest({arrays}) WITH ORDINALITY AS u({names}, "ordinality") '
        'ORDER BY u."ordinality"'
    )


def insert_selecting(
    model: type[Model], rows: list[dict[str, Any]], source: str | None, params: Params
) -> str:
    """PostgreSQL's INSERT of `rows`, each one selected from `source` (so none when it has
    no row; None: inserted as they are): a value is a parameter, or an `Sql` expression
    over the source's columns."""
    columns = list(rows[0])
    selects = [
        "SELECT "
        + ", ".join(
            value.text if isinstance(value, Sql) else params(value, pg_type(model, column))
            for column, value in row.items()
        )
        + (f" FROM {source}" if source else "")
        for row in rows
    ]
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{model._meta.db_table}" ({names}) ' + " UNION ALL ".join(selects)


@functools.cache
def pg_type(model: type[Model], column: str) -> str:
    """The PostgreSQL type of `model`'s column (fixed once the models are set up)."""
    field = model._meta.fields_map.get(column)
    if field is None or field.source_field not in (None, column):
        # a foreign key's column (`account_id`): the type of the related primary key
        relation = model._meta.fields_map[column.removesuffix("_id")]
        field = relation.related_model._meta.pk  # type: ignore[attr-defined]
    return str(field.get_for_dialect("postgres", "SQL_TYPE"))


def _sqlite(value: Any) -> Any:
    return str(value) if isinstance(value, UUID) else value
