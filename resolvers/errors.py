"""Domain errors in queries (which have no `errors` list) become top-level errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from graphql import GraphQLError

from core.errors import DomainError


@contextmanager
def query_error() -> Iterator[None]:
    try:
        yield
    except DomainError as exc:
        raise GraphQLError(
            exc.message, extensions={"code": exc.code, "field": exc.field}, original_error=exc
        ) from exc
