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
"""

from __future__ import annotations


class DomainError(Exception):
    """A user error: shown to the caller as `errors { field message code }`."""

    default_code = "INVALID"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class NotFound(DomainError):
    default_code = "NOT_FOUND"


class InvalidInput(DomainError):
    default_code = "INVALID"


class Refused(DomainError):
    default_code = "REFUSED"


class Conflict(DomainError):
    default_code = "CONFLICT"


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
