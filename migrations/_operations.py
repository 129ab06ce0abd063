"""Migration operations Tortoise's own do not cover."""

from __future__ import annotations

from typing import Any

from tortoise.migrations import operations as ops


class CommentOnlyAlterField(ops.AlterField):
    """A change that only touches the column comment (an enum's members).

    On SQLite, Tortoise would rebuild the table for it, and dropping the old table cascades
    to the rows that reference it (deliveries, attempts...): keep the data."""

    async def database_forward(
        self, app_label: Any, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is not None and state_editor.DIALECT == "sqlite":
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(
        self, app_label: Any, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is not None and state_editor.DIALECT == "sqlite":
            return
        await super().database_backward(app_label, old_state, new_state, state_editor)


class AddColumnWithDefault(ops.AddField):
    """Tortoise adds a NOT NULL column without a DEFAULT clause, which fails on a table
    that has rows (both backends): add it with its default in the database too."""

    def __init__(self, *, model_name: str, name: str, field: Any, sql: dict[str, str]) -> None:
        super().__init__(model_name=model_name, name=name, field=field)
        self._sql = sql

    async def database_forward(
        self, app_label: Any, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is not None:
            await state_editor._run_sql(self._sql[state_editor.DIALECT])
