"""What text and JSON from a client may contain before the engine stores or uses it.

PostgreSQL refuses NUL in text and JSONB, and a lone UTF-16 surrogate cannot be encoded
as UTF-8 at all, while SQLite stores both: refusing them at the door keeps the two backends
alike. JSON nested deeper than any request of the API needs is refused too, because every
JSON encoder and GraphQL coercion after the door recurses on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import Code

MAX_JSON_DEPTH = 32

# Python's JSON decoder joins a valid surrogate pair into one character, so any character
# left in this range is a lone surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class TextCode(Code):
    INVALID_STRING = "INVALID_STRING"  # text the database cannot store
    TOO_DEEP = "TOO_DEEP"  # JSON nested deeper than allowed


@dataclass(frozen=True)
class TextProblem:
    """Why a value cannot be taken, and where in it (`input.name`, `[3].contactId`)."""

    code: TextCode
    field: str
    message: str


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def unstorable_text_message(text: str) -> str:
    found = _UNSTORABLE.search(text)
    if found is not None and found.group() == "\x00":
        return "Text may not contain the NUL character (U+0000)"
    return "Text may not contain a lone UTF-16 surrogate (U+D800 to U+DFFF)"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def json_problem(
    value: Any, path: str = "", *, max_depth: int = MAX_JSON_DEPTH, text: bool = True
) -> TextProblem | None:
    """The first place nested deeper than `max_depth` or (with `text`) the first string,
    key or value, that cannot be stored; None when the whole value is fine. Iterative, so
    any depth the JSON decoder produced is safe to walk."""
    pending: list[tuple[Any, str, int]] = [(value, path, 0)]
    while pending:
        item, where, depth = pending.pop()
        if isinstance(item, str):
            if text and not is_storable(item):
                return TextProblem(TextCode.INVALID_STRING, where, unstorable_text_message(item))
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            return TextProblem(
                TextCode.TOO_DEEP, where, f"JSON may be nested at most {max_depth} deep"
            )
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = _join(where, key)
                if text and not is_storable(key):
                    return TextProblem(
                        TextCode.INVALID_STRING, child_path, unstorable_text_message(key)
                    )
                pending.append((child, child_path, depth + 1))
        else:
            pending.extend((child, _join(where, i), depth + 1) for i, child in enumerate(item))
    return None
