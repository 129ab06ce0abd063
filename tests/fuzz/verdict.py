"""What makes an answer of the engine a failure of the fuzz run: it must be a 4xx, or a
GraphQL answer whose every error carries `extensions.code`; never a 5xx, never Strawberry's
masked "Unexpected error." (an exception nobody turned into a coded error). Kept apart from
the schemathesis hooks so tests can hold it to the engine's real answers."""

from __future__ import annotations

import json
import re

MASKED_MESSAGE = "Unexpected error"
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"  # schema/error_codes.py: what a masked error carries
SERVER_ERROR = "HTTP 5xx"
MASKED = "Unexpected error (a masked internal error)"
UNCODED = "error without extensions.code"
NOT_JSON = "answer is not a JSON object"


def _shape(message: str) -> str:
    """A message with its literals blanked, so one cause groups its many examples."""
    message = re.sub(r'"(?:[^"\\]|\\.)*"', '"…"', message)
    message = re.sub(r"'[^']*'", "'…'", message)
    message = re.sub(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", "N", message)
    return message[:160]


def codes(content: bytes) -> list[str]:
    """The `extensions.code` of each error of a GraphQL answer ("-" for none)."""
    try:
        payload = json.loads(content)
    except ValueError:
        return []
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return [
        str((error.get("extensions") or {}).get("code") or "-") if isinstance(error, dict) else "-"
        for error in errors or []
    ]


def problems(status_code: int, content: bytes) -> list[str]:
    """The causes (one line each) that make an answer a failure of the fuzz run."""
    if status_code >= 500:
        return [f"{SERVER_ERROR}: {status_code}"]
    if status_code >= 400:
        return []  # a refused request (bad JSON, too large, rate limited) is an answer
    try:
        payload = json.loads(content)
    except ValueError:
        return [NOT_JSON]
    if not isinstance(payload, dict):
        return [NOT_JSON]
    found: set[str] = set()
    for error in payload.get("errors") or []:
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if message.startswith(MASKED_MESSAGE) or code == INTERNAL_CODE:
            found.add(MASKED)
        elif not code:
            found.add(f"{UNCODED}: {_shape(message)}")
    return sorted(found)
