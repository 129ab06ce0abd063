"""Codes of the ledger's refusals."""

from __future__ import annotations

from core.errors import Code


class PointsCode(Code):
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    BALANCE_LIMIT = "BALANCE_LIMIT"  # the balance would pass 2^31-1, GraphQL Int's limit
