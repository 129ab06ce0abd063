"""Codes of the refusals about tenants, admins and their settings."""

from __future__ import annotations

from core.errors import Code


class AccountCode(Code):
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    INVALID_ORIGIN = "INVALID_ORIGIN"
    TOO_MANY = "TOO_MANY"  # more allowed origins than a tenant may list
