"""Text the engine cannot store is refused before any resolver runs, for every argument of
every operation and every transport (HTTP POST and GET, WebSocket).

Strings reach resolvers two ways: as literals in the document and as variables. The
literals are checked by a validation rule (so ValidationCache keeps the verdict per
document), the variables by an extension before execution. Both answer a top-level error
with `extensions.code` `INVALID_STRING` and `extensions.field`, the argument's path
(`input.name`) or the variable's (`input.name` of `$input`). The rule itself is
core.text: no NUL, no lone surrogate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import ArgumentNode, GraphQLError, ObjectFieldNode, StringValueNode, ValidationRule
from strawberry.extensions import SchemaExtension

from core.text import is_storable, json_problem, unstorable_text_message


def _argument_path(parent: Any, ancestors: Any) -> str:
    names = [
        node.name.value
        for node in (*ancestors, parent)
        if isinstance(node, ArgumentNode | ObjectFieldNode)
    ]
    return ".".join(names)


class StorableTextRule(ValidationRule):
    """String literals in the document."""

    def enter_string_value(
        self, node: StringValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any
    ) -> None:
        if is_storable(node.value):
            return
        self.report_error(
            GraphQLError(
                unstorable_text_message(node.value),
                node,
                extensions={"code": "INVALID_STRING", "field": _argument_path(parent, ancestors)},
            )
        )


class StorableVariables(SchemaExtension):
    """Variables, and how deep they nest (the HTTP door checks bodies; this also covers
    GET's query string and the WebSocket)."""

    def on_execute(self) -> Iterator[None]:
        variables = self.execution_context.variables
        if variables:
            problem = json_problem(variables)
            if problem is not None:
                raise GraphQLError(
                    problem.message,
                    extensions={"code": problem.code, "field": problem.field},
                )
        yield
