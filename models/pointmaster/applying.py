"""What applying any point-master upload shares: the outcome, and the items' definitions
and known members, read for the whole batch in a few statements.

Items are then applied a chunk per database transaction (models.pointmaster.apply_transactions,
models.pointmaster.apply_balances): the chunk's members and accounts are read or created,
its accounts locked in primary-key order, the postings computed in memory
(models.points.bulk_postings) and written with a few bulk statements; members and accounts
created there that no applied item uses are dropped before it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from uuid import UUID

from core import clock
from models.pointmaster.items import ItemError, voyado_time
from models.pointmaster.modes import effective_mode
from models.pointmaster.tables import SyncBatch, SyncKind
from models.pointmaster.upload_rows import existing_members
from models.points.tables import PointDefinition
from models.tenancy.tables import PointMode, Tenant

CHUNK_ITEMS = 250  # items per database transaction
ACTOR = "point_master"
log = logging.getLogger(__name__)


class _Item(Protocol):
    @property
    def index(self) -> int: ...


I = TypeVar("I", bound=_Item)  # noqa: E741


@dataclass
class Outcome:
    applied: int = 0
    duplicates: int = 0
    rejected: dict[int, dict[str, str]] = field(default_factory=dict)
    # What history should show about items that were not rejected ("Item 3 applied as ...",
    # never "Item 3: ...", which names a rejection).
    notes: dict[int, dict[str, str]] = field(default_factory=dict)

    def reject(self, index: int, message: str) -> None:
        self.rejected[index] = {"message": f"Item {index}: {message}", "timeStamp": _stamp()}

    def note(self, index: int, message: str) -> None:
        self.notes[index] = {"message": f"Item {index} {message}", "timeStamp": _stamp()}

    def merge(self, other: Outcome) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.rejected.update(other.rejected)
        self.notes.update(other.notes)

    def messages(self) -> list[dict[str, str]]:
        """Rejections and notes in item order, then how many items were applied before."""
        by_item = {**self.notes, **self.rejected}
        messages = [by_item[i] for i in sorted(by_item)]
        if self.duplicates:
            messages.append(
                {
                    "message": f"{self.duplicates} item(s) were applied before; not applied again",
                    "timeStamp": _stamp(),
                }
            )
        return messages


def _stamp() -> str:
    return voyado_time(clock.now())


class BatchApplier:
    def __init__(self, batch: SyncBatch, mode: PointMode) -> None:
        self.batch = batch
        self.mode = mode
        self.tenant_id = batch.tenant_id
        self.actor = f"{ACTOR}:{batch.id}"  # on each posting: which upload applied it
        self.outcome = Outcome()

    async def apply_chunks(
        self, chunks: Iterable[list[I]], apply: Callable[[list[I]], Awaitable[Outcome]]
    ) -> None:
        """Each chunk in its own transaction. A chunk that fails is applied again an item
        at a time: an item the database refuses (or that fails for any other reason) is
        rejected alone, and the rest of the batch is applied."""
        for chunk in chunks:
            try:
                self.outcome.merge(await apply(chunk))
            except Exception as exc:
                if len(chunk) > 1:
                    await self.apply_chunks(([item] for item in chunk), apply)
                    continue
                log.warning("batch %s item %s failed", self.batch.id, chunk[0].index, exc_info=True)
                self.outcome.reject(chunk[0].index, f"could not be applied ({type(exc).__name__})")

    async def _definitions(self, external_ids: set[int]) -> dict[int, PointDefinition | str]:
        """external id -> the definition, or why items naming it are refused."""
        tenant = await Tenant.get(id=self.tenant_id)
        found: dict[int, PointDefinition | str] = {
            i: f"definitionId {i} is not a point definition" for i in external_ids
        }
        kind = SyncKind(self.batch.kind).value.lower()
        for definition in await PointDefinition.filter(
            tenant_id=self.tenant_id, external_id__in=list(external_ids)
        ):
            mode = effective_mode(definition, tenant.point_mode)
            found[definition.external_id] = (
                definition
                if mode == self.mode
                else f"definitionId {definition.external_id} is in point mode {mode.value}; "
                f"{kind} uploads need {self.mode.value}"
            )
        return found

    async def parse(
        self, parse: Any, check: Any = None
    ) -> list[tuple[int, Any, PointDefinition, UUID | None]]:
        """(index, item, definition, member id) of each well-formed item; the rest rejected.
        `check(item, definition)`: a reason to reject it, or None. The member id is None for
        a contact the tenant does not know yet: it becomes a member in the transaction that
        applies one of its items (models.pointmaster.upload_rows.chunk_rows), never when all
        of them are refused."""
        parsed = []
        for index, raw in enumerate(self.batch.items):
            try:
                parsed.append((index, parse(raw)))
            except ItemError as exc:
                self.outcome.reject(index, str(exc))
            except Exception as exc:  # e.g. a timeStamp that overflows in UTC
                self.outcome.reject(index, f"could not be read ({type(exc).__name__})")
        definitions = await self._definitions({item.definition_id for _, item in parsed})
        known: list[tuple[int, Any, PointDefinition]] = []
        for index, item in parsed:
            definition = definitions[item.definition_id]
            if isinstance(definition, str):
                reason: str | None = definition
            else:
                reason = check(item, definition) if check is not None else None
                if reason is None:
                    known.append((index, item, definition))
            if reason is not None:
                self.outcome.reject(index, reason)
        members = await existing_members(self.tenant_id, {item.contact_id for _, item, _ in known})
        return [(i, item, d, members.get(item.contact_id)) for i, item, d in known]
