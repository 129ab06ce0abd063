"""A cost limit per operation, so one request cannot ask for thousands of rows.

Depth, token and alias limits each allow a query that is heavy only in combination
(15 aliases x 100 redemptions, each with its member, reward and events). The cost is an
estimate of the objects and values the answer holds, known from the document alone (so
ValidationCache keeps the verdict):

- every field costs 1 for each time it appears in the answer;
- a field with `first` (a connection) makes its list `first` long: the literal value, or
  the largest page (100) when it is a variable or left out;
- any other list field (a redemption's `events`, a member's `accounts`) counts as
  UNPAGED_LIST_LENGTH long;
- aliases and fragments count for every place they are used; introspection (`__schema`,
  `__type`) is not counted (it reads no data, and GAMIFY_INTROSPECTION governs it).

Over the limit, the operation is refused before it runs with `extensions.code`
`QUERY_TOO_COSTLY` and the `limit`.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
    get_nullable_type,
)

LARGEST_PAGE = 100  # models.db.pagination.MAX_PAGE: the schema knows no model
UNPAGED_LIST_LENGTH = 5


def _page_size(field: FieldNode) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(1, min(int(value.value), LARGEST_PAGE))
            return LARGEST_PAGE
    return None


class _Estimate:
    def __init__(self, context: ValidationContext, limit: int) -> None:
        self.schema = context.schema
        self.limit = limit
        self.fragments: dict[str, FragmentDefinitionNode] = {
            d.name.value: d
            for d in context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }

    def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        times: int,
        page: int | None,
        seen: frozenset[str],
    ) -> int:
        if selection_set is None:
            return 0
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                cost += self.field(selection, parent, times, page, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                cost += self.selections(selection.selection_set, target, times, page, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue  # other rules report unknown and cyclic fragments
                target = self.schema.get_type(fragment.type_condition.name.value)
                cost += self.selections(fragment.selection_set, target, times, page, seen | {name})
            if cost > self.limit:
                return cost  # enough to refuse; stop walking a huge tree
        return cost

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        times: int,
        page: int | None,
        seen: frozenset[str],
    ) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(name)
        if definition is None:
            return times  # an unknown field: FieldsOnCorrectTypeRule reports it
        field_type = get_nullable_type(definition.type)
        children_times = times
        if isinstance(field_type, GraphQLList):
            children_times = times * (page or UNPAGED_LIST_LENGTH)
        child_page = _page_size(node)
        return times + self.selections(
            node.selection_set, get_named_type(field_type), children_times, child_page, seen
        )


def query_cost_rule(limit: int) -> type[ValidationRule]:
    """The rule class for one limit (built once per schema: ValidationCache keys on it)."""

    class QueryCostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            root = self.context.schema.get_root_type(node.operation)
            cost = _Estimate(self.context, limit).selections(
                node.selection_set, root, 1, None, frozenset()
            )
            if cost > limit:
                self.report_error(
                    GraphQLError(
                        f"The query asks for more than {limit} values (GAMIFY_MAX_QUERY_COST): "
                        "ask for smaller pages, fewer aliases or fewer nested lists",
                        node,
                        extensions={"code": "QUERY_TOO_COSTLY", "limit": limit},
                    )
                )

    return QueryCostRule
