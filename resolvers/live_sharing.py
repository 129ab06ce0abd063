"""Identical subscriptions of one process share one execution: the contract with the transport.

The WebSocket transport (engine.live_groups) offers every operation it runs a `Sharing`
through `SHARING`. A live-update resolver that takes the offer joins the group of
subscriptions whose results are the same as its own (same document, same variables but
`after`, same caller scope): the group runs the document once per event, encodes the result
once and writes the same bytes to every member's socket. What stays each subscriber's own:
the caller check, the replay after its cursor, its bounded buffer, and the error naming the
last event *it* was given.

The group's own execution runs the same resolvers with `LEADING` set, so they tell it when
they are subscribed to the broker and which event each result is about.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import strawberry
from graphql import GraphQLFormattedError, NonNullTypeNode, VariableNode, Visitor, visit


@dataclass(frozen=True)
class Ending:
    """How a shared subscription ended for one member."""

    code: str | None  # SUBSCRIBER_TOO_SLOW, UPDATES_INTERRUPTED, another error's code, None
    error: GraphQLFormattedError | None  # the group's final error, if it ended with one
    last_event_id: int | None = None  # the last event this member was given


class Seat(Protocol):
    async def serve(self, skip: Callable[[int], bool] | None, last_event_id: int | None) -> Ending:
        """Live from here on: the group's results (those `skip` does not refuse, after the
        ones that arrived while the resolver replayed) go to this member's socket, until the
        group ends or this member falls behind its buffer."""
        ...


class Sharing(Protocol):
    def join(
        self, scope: Hashable, after_variable: str | None
    ) -> AbstractAsyncContextManager[Seat]:
        """Membership of the group for this operation's document and variables (less
        `after_variable`, if any) and `scope`: everything of the caller that
        the results depend on. The group is subscribed to the broker once this has entered,
        and keeps what arrives for the member until `Seat.serve`."""
        ...


class Leader(Protocol):
    def subscribed(self) -> None: ...

    def about(self, event_id: int | None) -> None:
        """The next result is about this event."""
        ...


SHARING: ContextVar[Sharing | None] = ContextVar("gamify_live_sharing", default=None)
LEADING: ContextVar[Leader | None] = ContextVar("gamify_live_leading", default=None)


class _VariableUses(Visitor):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.count = name, 0

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.count += node.name.value == self.name


def shareable_after(info: strawberry.Info) -> tuple[bool, str | None]:
    """Whether this subscription can share its execution, and the variable carrying its
    `after` cursor (the group runs without it). Not shareable: a cursor written into the
    document, or a variable that is non-null, has a default or is used anywhere else, since
    leaving it out would change more than the replay."""
    field = info._raw_info.field_nodes[0]  # more only if selected again, with the same arguments
    after = next((a for a in field.arguments or () if a.name.value == "after"), None)
    if after is None:
        return True, None
    if not isinstance(after.value, VariableNode):
        return False, None
    name = after.value.name.value
    definition = next(
        d for d in info.operation.variable_definitions or () if d.variable.name.value == name
    )
    uses = _VariableUses(name)
    for node in (info.operation, *info._raw_info.fragments.values()):
        visit(node, uses)
    # Twice: its definition and the `after` argument.
    plain = not isinstance(definition.type, NonNullTypeNode) and definition.default_value is None
    return plain and uses.count == 2, name
