"""The engine's schema runs extensions' hooks as Strawberry's own runner does
(schema.extension_hooks plans them once per class): the same hooks, in the same order,
with the same errors and results, for every kind of hook an extension may have."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from schema.error_log import LoggedSchema

log: list[str] = []


class Generators(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        log.append("operation in")
        yield
        errors = getattr(self.execution_context.result, "errors", None)
        log.append(f"operation out, errors: {len(errors or [])}")

    async def on_execute(self) -> AsyncIterator[None]:
        log.append("execute in")
        try:
            yield
        finally:
            log.append("execute out")


class Functions(SchemaExtension):
    def on_parse(self) -> None:  # type: ignore[override]
        log.append("parse (function)")

    async def on_validate(self) -> None:  # type: ignore[override]
        log.append("validate (coroutine)")

    def get_results(self) -> dict[str, Any]:
        return {"functions": True}


class Nested(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        log.append("nested execute in")
        yield
        log.append("nested execute out")

    async def get_results(self) -> dict[str, Any]:
        return {"nested": 2}


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        log.append("resolver")
        return "hi"

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("broken")


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    extensions: list[Any] = [Generators, Functions, Nested]
    return (
        strawberry.Schema(query=Query, extensions=extensions),
        LoggedSchema(query=Query, extensions=extensions),
    )


async def _run(schema: strawberry.Schema, query: str) -> tuple[list[str], Any, list[str]]:
    log.clear()
    result = await schema.execute(query)
    return list(log), result.extensions, [e.message for e in result.errors or []]


async def test_hooks_of_every_kind_run_as_strawberry_runs_them() -> None:
    strawberrys, ours = _schemas()
    for query in ("{ hello }", "{ broken }", "{ nope }", "{ hello"):
        # twice each: the second run takes the plans made by the first
        for _ in range(2):
            assert await _run(ours, query) == await _run(strawberrys, query), query


async def test_the_order_of_the_hooks() -> None:
    _, ours = _schemas()
    seen, results, errors = await _run(ours, "{ hello }")
    assert seen == [
        "operation in",
        "parse (function)",
        "validate (coroutine)",
        "execute in",
        "nested execute in",
        "resolver",
        "nested execute out",
        "execute out",
        "operation out, errors: 0",
    ]
    assert (results, errors) == ({"functions": True, "nested": 2}, [])
