"""Names the GraphQL operation a request runs by its first root field (for metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from core.request_context import name_operation


def root_field(document: DocumentNode | None, operation_name: str | None) -> str | None:
    """The first root field of the operation to run, or None (no document, a fragment)."""
    if document is None:
        return None
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (
            definition.name is None or definition.name.value != operation_name
        ):
            continue
        for selection in definition.selection_set.selections:
            if isinstance(selection, FieldNode):
                return selection.name.value
        return None
    return None


class OperationLabel(SchemaExtension):
    """After validation, so only fields of the schema can become a label."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        field = root_field(context.graphql_document, context.operation_name)
        if field is not None:
            name_operation(field)
        yield
