"""Each GraphQL query or mutation is one unit of work (core.after_commit): what its
resolvers' domain calls said must follow their commits runs when the operation's execution
ends, before the response is sent (HTTP) or the result message (WebSocket); a query's
resolvers share their reads (schema.loaders). A subscription
is not one: it commits nothing, and a unit living as long as it would keep its reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from core.after_commit import unit_of_work


class AfterCommitEffects(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        kind = self.execution_context.operation_type  # worked out anew on every read
        if kind == OperationType.SUBSCRIPTION:
            yield
            return
        context = self.execution_context.context
        async with unit_of_work(context.queue, context.broker, query=kind == OperationType.QUERY):
            yield
