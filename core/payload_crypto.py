"""AES-256-GCM for payloads sent to a point master (e.g. `loyalty.addPoints`).

Wire format of an encrypted payload: base64( nonce (12 bytes) || ciphertext || tag (16) ),
standard alphabet with padding. The key is 32 random bytes, shared with the master as
base64; the key id travels beside the payload so keys can be rotated with an overlap.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32


class PayloadDecryptionError(ValueError):
    """The payload was tampered with, truncated, or encrypted with another key."""


def new_key() -> str:
    """A fresh key, base64: give it to the master once, over a safe channel."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def new_key_id() -> str:
    return secrets.token_hex(4)


def _key(key_b64: str) -> bytes:
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("The key is not base64") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"The key must be {KEY_BYTES} bytes (AES-256)")
    return key


def check_key(key_b64: str) -> None:
    """Raises ValueError (with a message for the user) unless it is a base64 AES-256 key."""
    _key(key_b64)


def encrypt_json(data: dict[str, Any], key_b64: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(data, separators=(",", ":")).encode()
    sealed = AESGCM(_key(key_b64)).encrypt(nonce, plaintext, None)
    return base64.b64encode(nonce + sealed).decode()


def decrypt_json(payload_b64: str, key_b64: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(payload_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PayloadDecryptionError("The payload is not base64") from exc
    if len(raw) < NONCE_BYTES + 16:
        raise PayloadDecryptionError("The payload is too short")
    try:
        plaintext = AESGCM(_key(key_b64)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
    except InvalidTag as exc:
        raise PayloadDecryptionError("The payload fails authentication") from exc
    data = json.loads(plaintext)
    if not isinstance(data, dict):
        raise PayloadDecryptionError("The payload is not a JSON object")
    return data
