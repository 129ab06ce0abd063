"""The condition language of earning rules, checked when a rule is saved and evaluated
against an event's properties.

A condition is `{"all": [...]}` or `{"any": [...]}` of conditions, or a comparison
`{"property": "amount", "op": "gte", "value": 50}`; `{}` (or `{"all": []}`) always holds.
A property is a dotted path into the properties ("product.category"). Comparisons:
eq, ne, gt, gte, lt, lte (numbers with numbers, strings with strings), in, not_in (a list),
exists (value true: present and not null; false: absent or null). A property that is
absent fails every comparison but `ne`, `not_in` and `exists: false`.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import InvalidInput
from models.programme.codes import ProgrammeCode

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists")
MAX_DEPTH = 5
MAX_COMPARISONS = 50
MAX_LIST = 500
_ORDERED = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_ABSENT = object()


def _invalid(path: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"conditions{path}: {message}", field="conditions", code=ProgrammeCode.INVALID_CONDITION
    )


def check_conditions(tree: Any) -> dict[str, Any]:
    """The tree if it is well formed; InvalidInput (INVALID_CONDITION) naming the place."""
    if tree is None:
        return {}
    count = _check(tree, "", 1)
    if count > MAX_COMPARISONS:
        raise _invalid("", f"at most {MAX_COMPARISONS} comparisons")
    return tree


def _check(node: Any, path: str, depth: int) -> int:
    if not isinstance(node, dict):
        raise _invalid(path, "a condition is a JSON object")
    if depth > MAX_DEPTH:
        raise _invalid(path, f"at most {MAX_DEPTH} levels of all/any")
    if not node:
        return 0
    groups = [k for k in ("all", "any") if k in node]
    if groups:
        if len(node) != 1:
            raise _invalid(path, "a group has only `all` or `any`")
        key = groups[0]
        items = node[key]
        if not isinstance(items, list):
            raise _invalid(f"{path}.{key}", "a list of conditions")
        return sum(_check(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(items))
    unknown = set(node) - {"property", "op", "value"}
    if unknown:
        raise _invalid(path, f"unknown keys {sorted(unknown)}")
    prop, op = node.get("property"), node.get("op")
    if not isinstance(prop, str) or not prop.strip() or len(prop) > 100:
        raise _invalid(f"{path}.property", "a property name (1-100 characters)")
    if op not in OPERATORS:
        raise _invalid(f"{path}.op", f"one of {', '.join(OPERATORS)}")
    if "value" not in node:
        raise _invalid(f"{path}.value", "required")
    value = node["value"]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or len(value) > MAX_LIST:
            raise _invalid(f"{path}.value", f"a list of at most {MAX_LIST} values")
        if any(isinstance(v, dict | list) for v in value):
            raise _invalid(f"{path}.value", "a list of numbers, strings, booleans or null")
    elif op == "exists":
        if not isinstance(value, bool):
            raise _invalid(f"{path}.value", "true or false")
    elif isinstance(value, dict | list):
        raise _invalid(f"{path}.value", "a number, string, boolean or null")
    elif op in _ORDERED and (value is None or isinstance(value, bool)):
        raise _invalid(f"{path}.value", "a number or a string")
    return 1


def read_property(properties: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or _ABSENT."""
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def as_number(value: Any) -> Decimal | None:
    """A JSON number, or a string that is one ("12.50"); None otherwise (booleans too)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _same(a: Any, b: Any) -> bool:
    na, nb = as_number(a), as_number(b)
    if na is not None and nb is not None and not isinstance(a, str) and not isinstance(b, str):
        return na == nb
    return type(a) is type(b) and bool(a == b)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    left: Any
    right: Any
    if isinstance(actual, str) and isinstance(expected, str):
        left, right = actual, expected
    else:
        left, right = as_number(actual), as_number(expected)
        if left is None or right is None:
            return False
    return {
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def holds(node: dict[str, Any], properties: dict[str, Any]) -> bool:
    return failure(node, properties) is None


def failure(node: dict[str, Any], properties: dict[str, Any]) -> str | None:
    """None if the condition holds; else why not, in words."""
    if not node:
        return None
    if "all" in node:
        for item in node["all"]:
            why = failure(item, properties)
            if why is not None:
                return why
        return None
    if "any" in node:
        reasons = [failure(item, properties) for item in node["any"]]
        if not reasons or any(r is None for r in reasons):
            return None if reasons else "no condition of `any` holds"
        return "none of: " + "; ".join(r for r in reasons if r)
    prop, op, expected = node["property"], node["op"], node["value"]
    actual = read_property(properties, prop)
    if op == "exists":
        present = actual is not _ABSENT and actual is not None
        return (
            None if present == expected else f"{prop} is {'absent' if not present else 'present'}"
        )
    if actual is _ABSENT:
        return None if op in ("ne", "not_in") else f"{prop} is absent"
    if op == "eq":
        ok = _same(actual, expected)
    elif op == "ne":
        ok = not _same(actual, expected)
    elif op == "in":
        ok = any(_same(actual, v) for v in expected)
    elif op == "not_in":
        ok = not any(_same(actual, v) for v in expected)
    else:
        ok = _compare(actual, op, expected)
    if ok:
        return None
    return f"{prop} {_shown(actual)} is not {op} {_shown(expected)}"


def _shown(value: Any) -> str:
    return json.dumps(value, default=str)
