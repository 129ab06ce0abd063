"""Codes of the refusals about a request's shape that every domain shares: paging, field
sizes, idempotency keys (generic codes are `core.errors.ErrorCode`)."""

from __future__ import annotations

from core.errors import Code


class DbCode(Code):
    TOO_LONG = "TOO_LONG"  # a text or JSON field over its size limit
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_PAGE_SIZE = "INVALID_PAGE_SIZE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"  # the key was used for another request
