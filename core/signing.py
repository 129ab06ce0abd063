"""Webhook signatures: the GamifyEngine header and the Standard Webhooks scheme.

- `X-GamifyEngine-Signature`: hex HMAC-SHA256 of the raw body, keyed with the endpoint
  secret string as UTF-8 (the whole `whsec_...` value), like GitHub's and Stripe's.
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with
  the base64-decoded part of the secret after `whsec_` (standardwebhooks.com); several
  signatures are space-separated while a rotated secret is still valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from core.errors import Code, InvalidInput

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


class SigningCode(Code):
    INVALID_SECRET = "INVALID_SECRET"  # not a Standard Webhooks secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> str:
    """A secret a tenant chose (to share one with other platforms): a Standard Webhooks
    secret, `whsec_` and the base64 of 24 to 64 random bytes."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        key = b""
    if not secret.startswith(SECRET_PREFIX) or not 24 <= len(key) <= 64:
        raise InvalidInput(
            "Use whsec_ and the base64 of 24 to 64 random bytes",
            field="secret",
            code=SigningCode.INVALID_SECRET,
        )
    return secret


def _standard_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def gamify_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    secrets_in_use: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Headers for one attempt; every secret still valid signs (rotation overlap)."""
    return {
        "X-GamifyEngine-Signature": ",".join(gamify_signature(s, body) for s in secrets_in_use),
        "X-GamifyEngine-Timestamp": str(timestamp),
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            standard_signature(s, msg_id, timestamp, body) for s in secrets_in_use
        ),
    }


def verify_standard(
    secret: str, headers: dict[str, str], body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """The receiver's check (also what our docs show): signature and timestamp freshness."""
    try:
        timestamp = int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = standard_signature(secret, headers.get("webhook-id", ""), timestamp, body)
    offered = headers.get("webhook-signature", "").split(" ")
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


def verify_gamify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = gamify_signature(secret, body)
    offered = headers.get("X-GamifyEngine-Signature", "").split(",")
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
