"""How much text and JSON a stored field takes, checked before a write so that a value
too long is the caller's coded error (field named as in the API) on both backends, not a
PostgreSQL truncation error or a Tortoise validation error, and not silently stored whole
by SQLite."""

from __future__ import annotations

import json
from typing import Any

from tortoise.fields import CharField
from tortoise.models import Model

from core.errors import InvalidInput
from models.db.codes import DbCode

MAX_FULFILLMENT_DATA_BYTES = 16 * 1024  # a voucher code, a link, a few lines of terms
MAX_REASON = 1000  # a status change's reason (callback, cancel)
MAX_DESCRIPTION = 2000  # descriptions of currencies and ledger entries
MAX_REWARD_DESCRIPTION = 10_000  # what a member reads about a reward, terms included


def check_text(value: str | None, limit: int, field: str) -> None:
    if value is not None and len(value) > limit:
        raise InvalidInput(f"Use at most {limit} characters", field=field, code=DbCode.TOO_LONG)


def check_json_size(value: Any, limit: int, field: str) -> None:
    if value is None:
        return
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size = len(encoded.encode("utf-8", "surrogatepass"))  # sizing only: text is checked apart
    if size > limit:
        raise InvalidInput(
            f"Use at most {limit} bytes of JSON ({size} given)", field=field, code=DbCode.TOO_LONG
        )


def check_columns(model: type[Model], values: dict[str, Any], fields: dict[str, str]) -> None:
    """`values` by column against the model's own max_length; `fields` maps a column to its
    name in the API (`external_user_id` -> `externalUserId`)."""
    for column, value in values.items():
        definition = model._meta.fields_map.get(column)
        if isinstance(definition, CharField) and isinstance(value, str):
            check_text(value, definition.max_length, fields.get(column, column))
