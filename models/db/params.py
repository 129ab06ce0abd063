"""Raw statements' parameters: numbered as a PostgreSQL statement is built (`Params`),
or put in either dialect's placeholders (`query`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tortoise import connections


class Params:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, sql_type: str | None = None) -> str:
        """The placeholder of `value` (cast to `sql_type` when given)."""
        self.values.append(value)
        return f"${len(self.values)}::{sql_type}" if sql_type else f"${len(self.values)}"


@dataclass(frozen=True)
class Sql:
    """A value given as an SQL expression (over the columns a statement selects from)."""

    text: str


async def query(sql: str, *values: object, **names: str) -> list[dict[str, Any]]:
    """`sql` on the default connection, with `{}` for each value in the dialect's
    placeholders and `{name}` for each of `names` (a table's name, say)."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        marks = [f"${n}" for n in range(1, len(values) + 1)]
        args = list(values)
    else:
        marks = ["?"] * len(values)
        args = [str(v) if isinstance(v, UUID) else v for v in values]
    return await conn.execute_query_dict(sql.format(*marks, **names), args)
