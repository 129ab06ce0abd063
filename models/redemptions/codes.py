"""Codes of the refusals to move a redemption (why one cannot be made at all is
`models.catalog.eligibility.Ineligibility`)."""

from __future__ import annotations

from core.errors import Code


class RedemptionCode(Code):
    INVALID_TRANSITION = "INVALID_TRANSITION"  # the state machine has no such move
    ALREADY_FINAL = "ALREADY_FINAL"  # the redemption reached a final status
    CONTRADICTING_CALLBACK = "CONTRADICTING_CALLBACK"  # a second, different outcome
