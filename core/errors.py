"""Domain errors: what a caller did wrong, with a code per domain.

DomainError
├── NotFound              an id that does not exist for this caller (also foreign ids)
├── InvalidInput          a field that fails validation
├── Refused               a valid request the rules say no to (balance, stock, state...)
└── Conflict              idempotency key reused for another request, contradicting callback
AuthError                 who is asking is unknown or may not do this (top-level GraphQL error)
├── Unauthenticated
│   └── TokenExpired      a well-formed token past its expiry: the client should fetch a new one
└── Forbidden

Codes: each domain owns an enum of its codes (`models/<domain>/codes.py`, or next to the rule
that decides them, as `models.catalog.eligibility.Ineligibility`); `ErrorCode` below holds the
generic ones. A DomainError takes an enum member, never a string; its value is what the
caller receives. The schema derives its GraphQL error enums from these enums
(`schema.common.error_codes`), and tests/api/test_error_codes.py proves that every code a
mutation can raise is one its payload's enum has.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Code(StrEnum):
    """Base of every code enum (they are found by it: `Code.__subclasses__()`)."""


class ErrorCode(Code):
    """Codes any domain may use."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    REFUSED = "REFUSED"
    CONFLICT = "CONFLICT"
    CONCURRENT_UPDATE = "CONCURRENT_UPDATE"  # changed by someone else meanwhile: retry


class DomainError(Exception):
    """A user error: shown to the caller as `errors { field message code }`."""

    default_code: ClassVar[Code] = ErrorCode.INVALID

    def __init__(self, message: str, *, code: Code | None = None, field: str | None = None) -> None:
        super().__init__(message)
        if code is not None and not isinstance(code, Code):
            raise TypeError(f"A DomainError's code is a member of a code enum, not {code!r}")
        self.message = message
        self.code: Code = code if code is not None else self.default_code
        self.field = field


class NotFound(DomainError):
    default_code: ClassVar[Code] = ErrorCode.NOT_FOUND


class InvalidInput(DomainError):
    default_code: ClassVar[Code] = ErrorCode.INVALID


class Refused(DomainError):
    default_code: ClassVar[Code] = ErrorCode.REFUSED


class Conflict(DomainError):
    default_code: ClassVar[Code] = ErrorCode.CONFLICT


class AuthError(Exception):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Authentication required"):
        super().__init__(message)
        self.message = message


class Unauthenticated(AuthError):
    code = "UNAUTHENTICATED"


class TokenExpired(Unauthenticated):
    code = "TOKEN_EXPIRED"

    def __init__(self, message: str = "Token expired"):
        super().__init__(message)


class Forbidden(AuthError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "You may not do this"):
        super().__init__(message)
