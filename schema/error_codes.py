"""Every error of a GraphQL answer carries `extensions.code`, so clients can handle errors
by code alone (web/client does).

Our resolvers give their errors a code (UNAUTHENTICATED, NOT_FOUND, ...). What graphql-core
refuses before any resolver runs has none: a syntax error, a document the schema does not
validate (a literal of the wrong type, a missing argument, a limiter), a variable of the
wrong type. Those get the codes Apollo Server uses for them, which GraphQL clients and
tools already know; an internal error masked by `MaskErrors` gets INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL_SERVER_ERROR"


def refusal_code(error: GraphQLError) -> str:
    """The code of a refusal by graphql-core (an error before execution, without a code)."""
    if isinstance(error, GraphQLSyntaxError):
        return PARSE_FAILED
    # graphql-core's coercion of `variables` words each of its errors this way.
    if error.message.startswith("Variable '$"):
        return BAD_USER_INPUT
    return VALIDATION_FAILED


def label(errors: list[GraphQLError]) -> None:
    """Give each refusal without a code (an error before execution: it has no `path`) the
    code of what graphql-core refused. An error of a resolver without a code is left as it
    is: that resolver owes it one."""
    for error in errors:
        if (error.extensions or {}).get("code") or error.path:
            continue
        error.extensions = {**(error.extensions or {}), "code": refusal_code(error)}


class RefusalCodes(SchemaExtension):
    """Labels the errors of an operation's result once it has run (see `label`). Listed
    before MaskInternalErrors, so it runs after it and never labels an internal error."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors:
            label(errors)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Subscriptions: each result is sent before on_operation ends, so labelled here.
        errors = getattr(result, "errors", None)
        if errors:
            label(errors)
        yield


class MaskInternalErrors(MaskErrors):
    """Strawberry's MaskErrors, with a code on the masked error."""

    def _process_result(self, result: object) -> None:
        # As MaskErrors does (strawberry-graphql is pinned), without its isinstance check
        # against a runtime Protocol (7 us on every operation here).
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked


class ParserCacheWithCodes(ParserCache):
    """Strawberry's ParserCache parses in its `on_parse` hook and lets a syntax error escape
    the operation: no extension sees it (no code), and over the WebSocket nothing answers
    it (the subscription just completes). Here a document that does not parse is left
    unparsed, and Strawberry parses it again itself and answers the error as any refusal."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
