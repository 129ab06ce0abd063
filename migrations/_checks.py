"""Database-level guards that no column goes below zero.

The domain code already refuses such writes with conditional updates; these checks make
a bug fail loudly instead of corrupting a balance. Tortoise's SQLite schema editor
rebuilds a table to add a CHECK constraint and loses its unique constraints on the way,
so SQLite gets equivalent triggers instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class not_negative_checks:  # lower-case: reads like a function call in migrations
    columns: list[tuple[str, str]]

    async def forward(self, _apps: Any, editor: Any) -> None:
        dialect = editor.client.capabilities.dialect
        for table, column in self.columns:
            name = f"{table}_{column}_not_negative"
            if dialect == "sqlite":
                for op in ("INSERT", "UPDATE"):
                    await editor.client.execute_script(
                        f'CREATE TRIGGER "{name}_{op.lower()}" BEFORE {op} ON "{table}" '
                        f"WHEN NEW.{column} < 0 BEGIN "
                        f"SELECT RAISE(ABORT, 'CHECK constraint failed: {name}'); END;"
                    )
            else:
                await editor.client.execute_script(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK ({column} >= 0)'
                )

    async def backward(self, _apps: Any, editor: Any) -> None:
        dialect = editor.client.capabilities.dialect
        for table, column in self.columns:
            name = f"{table}_{column}_not_negative"
            if dialect == "sqlite":
                for op in ("insert", "update"):
                    await editor.client.execute_script(f'DROP TRIGGER IF EXISTS "{name}_{op}"')
            else:
                await editor.client.execute_script(
                    f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"'
                )
