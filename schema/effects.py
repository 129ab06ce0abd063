"""Each GraphQL operation is one unit of work (core.after_commit): what its resolvers'
domain calls said must follow their commits runs when the operation's execution ends,
before the response is sent (HTTP) or the result message (WebSocket)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from core.after_commit import unit_of_work


class AfterCommitEffects(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        async with unit_of_work(context.queue, context.broker):
            yield
