"""Reading the items of a point-master upload (Voyado Engage point-account shapes).

Field names are the master's: contactId, amount, definitionId, timeStamp, source,
description, validFrom, validTo, transactionId. A malformed item raises ItemError with a
message for the batch status; it never fails the whole batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from models.points.awards import MAX_AMOUNT, MAX_BALANCE
from models.points.tables import LedgerSource

MAX_CONTACT_ID = 200
MAX_TRANSACTION_ID = 150
INT32 = (-(2**31), 2**31 - 1)  # definitionId is stored as a 32-bit integer

SOURCES = {
    "purchase": LedgerSource.PURCHASE,
    "adjustment": LedgerSource.ADJUSTMENT,
    "return": LedgerSource.RETURN,
    "manual": LedgerSource.MANUAL,
    "automation": LedgerSource.AUTOMATION,
    "bonus": LedgerSource.BONUS,
}


class ItemError(ValueError):
    pass


@dataclass(frozen=True)
class BalanceItem:
    contact_id: str
    definition_id: int
    amount: int
    time_stamp: datetime


@dataclass(frozen=True)
class TransactionItem:
    contact_id: str
    definition_id: int
    amount: int
    time_stamp: datetime
    source: LedgerSource
    source_name: str  # as the master sent it, for the dedupe key
    description: str
    valid_from: datetime | None
    valid_to: datetime | None
    transaction_id: str | None


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ItemError(f"{name} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ItemError(f"{name} must be an ISO 8601 time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        # In UTC here, so no later step overflows on a time at the edge of the calendar.
        return moment.astimezone(UTC)
    except OverflowError:
        raise ItemError(f"{name} is out of range") from None


def _optional_time(item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name)
    return None if value is None or value == "" else parse_time(value, name)


def _int(item: dict[str, Any], name: str, bounds: tuple[int, int] | None = INT32) -> int:
    """An integer the database can hold where it goes: a value beyond that would fail the
    chunk's transaction (an overflow), not just this item."""
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        if not (isinstance(value, float) and value.is_integer()):
            raise ItemError(f"{name} must be an integer")
        value = int(value)
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise ItemError(f"{name} must be from {bounds[0]} to {bounds[1]}")
    return value


def _text(value: str, name: str) -> str:
    """Text PostgreSQL can store: no NUL, no lone surrogate (uploads stored on SQLite
    before the API refused them still reach the worker)."""
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ItemError(f"{name} must not contain NUL or unpaired surrogate characters")
    return value


def _contact(item: dict[str, Any]) -> str:
    """The master's id for the contact: any non-empty string (not necessarily a UUID)."""
    value = item.get("contactId")
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_CONTACT_ID:
        raise ItemError(f"contactId must be a string of 1-{MAX_CONTACT_ID} characters")
    return _text(value.strip(), "contactId")


def balance_item(item: Any) -> BalanceItem:
    if not isinstance(item, dict):
        raise ItemError("an item must be a JSON object")
    amount = _int(item, "amount", None)
    if amount < 0:
        raise ItemError("amount must not be negative")
    if amount > MAX_BALANCE:
        raise ItemError(f"amount must be at most {MAX_BALANCE} (the largest balance)")
    return BalanceItem(
        contact_id=_contact(item),
        definition_id=_int(item, "definitionId"),
        amount=amount,
        time_stamp=parse_time(item.get("timeStamp"), "timeStamp"),
    )


def transaction_item(item: Any) -> TransactionItem:
    if not isinstance(item, dict):
        raise ItemError("an item must be a JSON object")
    source_name = item.get("source") or "Other"
    if not isinstance(source_name, str):
        raise ItemError("source must be a string")
    _text(source_name, "source")
    description = item.get("description") or ""
    if not isinstance(description, str):
        raise ItemError("description must be a string")
    _text(description, "description")
    transaction_id = item.get("transactionId")
    if transaction_id is not None:
        transaction_id = _text(str(transaction_id).strip(), "transactionId")
        if not transaction_id or len(transaction_id) > MAX_TRANSACTION_ID:
            raise ItemError(f"transactionId must have 1-{MAX_TRANSACTION_ID} characters")
    return TransactionItem(
        contact_id=_contact(item),
        definition_id=_int(item, "definitionId"),
        amount=_int(item, "amount", (-MAX_AMOUNT, MAX_AMOUNT)),
        time_stamp=parse_time(item.get("timeStamp"), "timeStamp"),
        source=SOURCES.get(source_name.strip().lower(), LedgerSource.OTHER),
        source_name=source_name.strip(),
        description=description,
        valid_from=_optional_time(item, "validFrom"),
        valid_to=_optional_time(item, "validTo"),
        transaction_id=transaction_id,
    )


def dedupe_key(item: TransactionItem) -> str:
    """The idempotency key of a transaction item (its scope is the member)."""
    if item.transaction_id is not None:
        return f"pm-tx:{item.transaction_id}"
    parts = [
        item.definition_id,
        item.time_stamp.astimezone(UTC).isoformat(),
        item.amount,
        item.source_name.lower(),
    ]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return f"pm-item:{digest}"


def voyado_time(moment: datetime) -> str:
    """`2023-05-17T11:03:16.947Z`: UTC with milliseconds, as the master writes times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
