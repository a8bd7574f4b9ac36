"""Bulk sync: many records of every kind in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from portal.api.schemas.clients import ClientSyncIn
from portal.api.schemas.common import Input, Output
from portal.api.schemas.invoices import InvoiceSyncIn
from portal.api.schemas.matters import MatterSyncIn
from portal.api.schemas.trust_entries import TrustEntrySyncIn
from portal.backoffice.records import KINDS, SyncBatch, SyncResult

# Bulk sync


def _records_in(data: Mapping[str, Any]) -> int:
    return sum(len(items) for kind in KINDS if isinstance(items := data.get(kind), list))


class SyncIn(Input):
    """Records to upsert in one transaction: all of them, or none if any is refused."""

    clients: list[ClientSyncIn] = Field(default=[], description="Applied first.")
    matters: list[MatterSyncIn] = Field(default=[], description="Applied after clients.")
    invoices: list[InvoiceSyncIn] = Field(default=[], description="Applied after matters.")
    trust_entries: list[TrustEntrySyncIn] = Field(default=[], description="Applied last.")

    @model_validator(mode="before")
    @classmethod
    def _not_too_many(cls, data: Any, info: ValidationInfo) -> Any:
        # Counted before any record is validated, so an oversized batch costs little.
        most = (info.context or {}).get("max_records")
        if isinstance(data, Mapping) and most is not None and _records_in(data) > most:
            raise PydanticCustomError(
                "too_many_records",
                "a sync may carry at most {most} records; this one has {count}",
                {"most": most, "count": _records_in(data)},
            )
        return data

    def batch(self) -> SyncBatch:
        return SyncBatch(
            clients=[r.record(r.external_id) for r in self.clients],
            matters=[r.record(r.external_id) for r in self.matters],
            invoices=[r.record(r.external_id) for r in self.invoices],
            trust_entries=[r.record(r.external_id) for r in self.trust_entries],
        )


_SYNC_ITEMS: dict[str, type[Any]] = {
    "clients": ClientSyncIn,
    "matters": MatterSyncIn,
    "invoices": InvoiceSyncIn,
    "trust_entries": TrustEntrySyncIn,
}


def valid_part_of_sync(
    data: Mapping[str, Any], refused: set[tuple[str, int]], context: Mapping[str, Any]
) -> SyncBatch:
    """The records of a refused sync body that are valid on their own, with the rest as None.

    Lets the reference checks run on the good records too, so one answer lists every bad one.
    The refused records' external ids are passed on so references to them are not reported
    a second time.
    """
    lists: dict[str, list[Any]] = {}
    refused_ids: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind in KINDS:
        items = data.get(kind)
        lists[kind] = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            record = None
            if (kind, i) not in refused:
                try:
                    parsed = _SYNC_ITEMS[kind].model_validate(item, context=context)
                    record = parsed.record(parsed.external_id)
                except ValidationError:
                    record = None
            if record is None and isinstance(item, Mapping):
                external_id = item.get("external_id")
                if isinstance(external_id, str):
                    refused_ids[kind].add(external_id)
            lists[kind].append(record)
    return SyncBatch(
        clients=lists["clients"],
        matters=lists["matters"],
        invoices=lists["invoices"],
        trust_entries=lists["trust_entries"],
        refused={kind: frozenset(ids) for kind, ids in refused_ids.items()},
    )


class RecordOutcome(Output):
    external_id: str
    outcome: Literal["created", "updated", "unchanged"]


class SyncResults(Output):
    clients: list[RecordOutcome]
    matters: list[RecordOutcome]
    invoices: list[RecordOutcome]
    trust_entries: list[RecordOutcome]


class OutcomeCounts(Output):
    created: int
    updated: int
    unchanged: int


class SyncCounts(Output):
    clients: OutcomeCounts
    matters: OutcomeCounts
    invoices: OutcomeCounts
    trust_entries: OutcomeCounts


class SyncOut(Output):
    """What happened to each record, in the order sent, and how many of each outcome."""

    results: SyncResults
    counts: SyncCounts

    @classmethod
    def of(cls, result: SyncResult) -> SyncOut:
        return cls.model_validate(
            {
                "results": {
                    kind: [
                        {"external_id": external_id, "outcome": outcome}
                        for external_id, outcome in result.outcomes[kind]
                    ]
                    for kind in KINDS
                },
                "counts": result.counts(),
            }
        )
