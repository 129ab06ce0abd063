"""schemathesis hooks of the fuzz run, loaded with SCHEMATHESIS_HOOKS=tests.fuzz.hooks.

- a strategy for the `JSON` scalar (schemathesis knows `DateTime`, not ours);
- the check `coded_errors` (tests/fuzz/verdict.py says what fails);
- a recorder: every call, with the problems `coded_errors` sees in it, one JSON line in
  the file FUZZ_RECORD names, for tests/fuzz/run.py to count and summarise.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from tests.fuzz.verdict import codes, problems

_record_lock = threading.Lock()
_QUERY_CHARS = 1500
_ANSWER_CHARS = 200

# ------------------------------------------------------------------ the JSON scalar

_names = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,11}", fullmatch=True)
_json_leaves = st.one_of(
    st.just(nodes.Null),
    st.booleans().map(nodes.Boolean),
    st.integers(min_value=-(2**63), max_value=2**63).map(nodes.Int),
    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
    st.text(max_size=40).map(nodes.String),
)


def _object(fields: dict[str, graphql.ValueNode]) -> graphql.ObjectValueNode:
    return nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=value)
            for key, value in fields.items()
        ]
    )


JSON_VALUES = st.recursive(
    _json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(nodes.List),
        st.dictionaries(_names, inner, max_size=4).map(_object),
    ),
    max_leaves=12,
)
schemathesis.graphql.scalar("JSON", JSON_VALUES)

# ------------------------------------------------------------------ hostile built-in scalars
# hypothesis-graphql draws short, printable-ish text and small integers: it would almost never
# send what broke the engine before (a NUL, a name longer than its column, amounts whose sum
# leaves 32 bits). Each scalar is ordinary most of the time, so cases still reach the
# resolvers' logic, and one of these values otherwise.

_ordinary_text = st.text(max_size=40)
_hostile_text = st.one_of(
    st.sampled_from(["", " ", "\x00", "a\x00b", "\t\r\n", "{contactId}", "\u202e", "💥" * 10]),
    st.text(min_size=256, max_size=1100),  # past the engine's varchar(255)/(1000) columns
    st.integers(min_value=10_000, max_value=70_000).map("x".__mul__),
)
STRINGS = st.one_of(_ordinary_text, _ordinary_text, _hostile_text).map(nodes.String)

_BOUNDS = [0, 1, -1, 2**31 - 1, -(2**31), 10**9, -(10**9), 10**9 + 1, 2**30]
INTS = st.one_of(
    st.integers(min_value=1, max_value=100),  # a valid page size, quantity, rank
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.integers(min_value=-100, max_value=10_000),
    st.sampled_from(_BOUNDS),
).map(nodes.Int)

IDS = st.one_of(
    _ordinary_text,
    st.uuids().map(str),
    st.integers(min_value=-(2**63), max_value=2**64).map(str),
    _hostile_text,
).map(nodes.String)

schemathesis.graphql.scalar("String", STRINGS)
schemathesis.graphql.scalar("Int", INTS)
schemathesis.graphql.scalar("ID", IDS)


@schemathesis.check
def coded_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, no masked internal error, every GraphQL error with a code."""
    found = problems(response.status_code, response.content)
    if found:
        raise AssertionError("; ".join(found))
    return None


# ------------------------------------------------------------------ the record


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    path = os.environ.get("FUZZ_RECORD")
    if not path:
        return
    found = problems(response.status_code, response.content)
    line: dict[str, Any] = {
        "operation": case.operation.label,
        "status": response.status_code,
        "problems": found,
        "codes": codes(response.content),
    }
    # Every answer's start, to see what the cases reached; the whole call when it failed.
    chars = _QUERY_CHARS if found else _ANSWER_CHARS
    line["answer"] = response.content[:chars].decode("utf-8", "replace")
    if found or os.environ.get("FUZZ_RECORD_QUERIES"):
        query = case.body if isinstance(case.body, str) else json.dumps(case.body)
        line["query"] = query[:_QUERY_CHARS] + ("…" if len(query) > _QUERY_CHARS else "")
    with _record_lock, open(path, "a", encoding="utf-8") as record:
        record.write(json.dumps(line) + "\n")
