"""Codes of the catalog's refusals to change a reward. Why a member may not redeem one is
`models.catalog.eligibility.Ineligibility`, with its messages."""

from __future__ import annotations

from core.errors import Code


class CatalogCode(Code):
    ARCHIVED = "ARCHIVED"  # an archived reward cannot change
    HAS_REDEMPTIONS = "HAS_REDEMPTIONS"  # cannot be deleted: archive it instead
