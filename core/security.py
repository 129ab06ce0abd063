"""Passwords, signed tokens and API keys.

- Admin passwords: argon2id (argon2-cffi).
- Admin and member tokens: short-lived HS256 JWTs (pyjwt) signed with the secret key.
- API keys: `gk_` + 32 random bytes; only a SHA-256 digest is stored. The keys carry
  256 bits of entropy, so a fast digest is safe and keeps per-request lookup cheap.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core import clock
from core.errors import TokenExpired, Unauthenticated

API_KEY_PREFIX = "gk_"
_hasher = PasswordHasher()
# A hash to verify against when the email is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

TokenKind = Literal["admin", "member"]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    kind: TokenKind
    subject: str
    tenant_id: str
    expires_at: int  # epoch seconds


def issue_token(secret: str, kind: TokenKind, subject: str, tenant_id: str, ttl: int) -> str:
    issued = clock.now()
    payload = {
        "typ": kind,
        "sub": subject,
        "tid": tenant_id,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl)).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def read_token(secret: str, token: str) -> TokenClaims:
    claims = _verified(secret, token)
    if claims.expires_at <= int(clock.now().timestamp()):
        raise TokenExpired()
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> TokenClaims:
    """The claims of a token signed with `secret`, checked once per token: a token never
    changes, so a widget's requests after its first skip the signature check (its expiry
    is checked on every use, by read_token). A refused token raises and is not kept."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            # Expiry is checked against our clock by read_token; the issue time is not
            # checked at all, so a host whose clock runs a little behind the minting one
            # still accepts.
            options={
                "require": ["exp", "sub", "tid", "typ"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated("Invalid token") from exc
    expires = payload["exp"]
    if not isinstance(expires, int) or isinstance(expires, bool):  # we issue whole seconds
        raise Unauthenticated("Invalid token")
    if payload["typ"] not in ("admin", "member"):
        raise Unauthenticated("Invalid token")
    # Signed by us does not make every claim well-formed (another deployment's key, a
    # hand-made token): callers turn sub and tid into UUIDs, so check them here.
    if not (_is_uuid(payload["sub"]) and _is_uuid(payload["tid"])):
        raise Unauthenticated("Invalid token")
    return TokenClaims(
        kind=payload["typ"], subject=payload["sub"], tenant_id=payload["tid"], expires_at=expires
    )


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_display_prefix(key: str) -> str:
    """What admins see to recognise a key: `gk_` and the first 6 characters."""
    return key[: len(API_KEY_PREFIX) + 6]
