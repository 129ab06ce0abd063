"""Codes of the programme's refusals (generic ones are `core.errors.ErrorCode`)."""

from __future__ import annotations

from core.errors import Code


class ProgrammeCode(Code):
    INVALID_EVENT_TYPE = "INVALID_EVENT_TYPE"  # not a built-in type nor a custom name
    INVALID_CONDITION = "INVALID_CONDITION"  # a rule's conditions, with the place named
    ARCHIVED = "ARCHIVED"  # an archived rule cannot be changed
    DUPLICATE_ORDER = "DUPLICATE_ORDER"  # a purchase's order was tracked under another key
    TOO_MANY_EVENTS = "TOO_MANY_EVENTS"  # a batch of more than 1,000 events
    EMPTY_BATCH = "EMPTY_BATCH"
