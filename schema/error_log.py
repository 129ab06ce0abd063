"""How GraphQL errors are logged: a client's mistake is one INFO line with its code, an
unexpected exception an ERROR with its traceback. Neither carries the document, its
variables or the error message, which can quote them (a password given inline, a
point-master key, a 10 MB argument)."""

from __future__ import annotations

import logging
import traceback

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from core.errors import AuthError, DomainError
from schema.extension_hooks import PlannedExtensionsRunner
from schema.operation_label import root_field

log = logging.getLogger("gamify.graphql")
# A traceback line longer than this is cut: exception messages can quote input.
MAX_LINE = 300


def is_client_error(error: GraphQLError) -> bool:
    """A caller's mistake (syntax, validation, limits, auth, domain rules, anything given a
    code), not a fault of ours."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError | AuthError | DomainError):
        return True
    return isinstance((error.extensions or {}).get("code"), str)


def client_error_code(error: GraphQLError) -> str:
    for candidate in (error, error.original_error):
        code = getattr(candidate, "code", None) or (
            (getattr(candidate, "extensions", None) or {}).get("code")
        )
        if isinstance(code, str):
            return code
    return "GRAPHQL_VALIDATION_FAILED"  # syntax, validation and limiter errors carry none


def bounded_traceback(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception(exc)).splitlines()
    return "\n".join(line if len(line) <= MAX_LINE else line[:MAX_LINE] + "…" for line in lines)


def log_errors(errors: list[GraphQLError], context: ExecutionContext | None) -> None:
    operation = (
        root_field(context.graphql_document, context.operation_name) if context else None
    ) or "-"
    for error in errors:
        path = ".".join(str(part) for part in error.path or ()) or "-"
        if is_client_error(error):
            log.info("client error %s in %s at %s", client_error_code(error), operation, path)
        else:
            assert error.original_error is not None
            log.error(
                "unexpected error in %s at %s\n%s",
                operation,
                path,
                bounded_traceback(error.original_error),
            )


class LoggedSchema(strawberry.Schema):
    """Strawberry's Schema, with `log_errors` instead of its logger (which logs every error
    at ERROR with a traceback and the document), and its extensions' hooks planned once per
    class (schema.extension_hooks)."""

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return PlannedExtensionsRunner(execution_context, extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, execution_context)
