"""A PostgreSQL statement's parameters as it is built: numbered as they are added."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
