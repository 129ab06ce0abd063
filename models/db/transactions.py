"""Transactions of the domain: Tortoise's, tied to the operation's after-commit effects.

`atomic()` is `tortoise.transactions.in_transaction()` that also drops the effects said
inside it (core.after_commit) if it rolls back, so a job or a live message never announces
a change that did not happen. models/ opens transactions only through it (lint-imports).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from core.after_commit import current_unit


@contextlib.asynccontextmanager
async def atomic(connection_name: str | None = None) -> AsyncIterator[BaseDBAsyncClient]:
    unit = current_unit()
    async with in_transaction(connection_name) as conn:
        if unit is None:
            yield conn
        else:
            with unit.transaction():
                yield conn
