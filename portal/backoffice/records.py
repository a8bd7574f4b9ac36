"""What the back office sends: clients, matters and invoices as records, a batch of them (with
trust entries, `portal.ledger.services.TrustEntryRecord`), and what a sync did to each record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from portal.ledger.services import TrustEntryRecord

Outcome = Literal["created", "updated", "unchanged"]

#: The kinds of record a batch carries, in the order they are applied.
KINDS = ("clients", "matters", "invoices", "trust_entries")

#: How often a batch is tried when concurrent requests keep inserting the same external ids.
RACE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A client as the back office describes it."""

    external_id: str
    name: str
    email: str | None = None
    #: CLDR locale such as "es_US"; None means the firm's default.
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class MatterRecord:
    """A matter as the back office describes it; `client` is the client's external id."""

    external_id: str
    client: str
    number: str
    title: str
    #: Evergreen retainer floor in minor units of the matter's currency, or None.
    trust_minimum_minor: int | None = None
    #: None means the currency of the firm's trust merchant account.
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    """An invoice as the back office describes it; `matter` is the matter's external id."""

    external_id: str
    matter: str
    number: str
    issued_on: dt.date
    due_on: dt.date | None
    currency: str
    total_minor: int
    balance_due_minor: int
    description: str = ""
    #: The back office voided the invoice; otherwise its status follows its balance due.
    is_void: bool = False
    #: Public ids of the portal payments `balance_due_minor` already reflects. The list is the
    #: whole truth for this send: a payment left out is one the balance does not reflect yet.
    portal_payments: tuple[str, ...] = ()


@dataclass(frozen=True)
class SyncBatch:
    """Records to apply together. A None stands for a record the caller already refused."""

    clients: Sequence[ClientRecord | None] = ()
    matters: Sequence[MatterRecord | None] = ()
    invoices: Sequence[InvoiceRecord | None] = ()
    trust_entries: Sequence[TrustEntryRecord | None] = ()
    #: External ids, per kind, of the refused records: references to them are not reported
    #: again as unknown, since the caller has already reported the record itself.
    refused: Mapping[str, Collection[str]] = field(default_factory=dict)
    #: One record sent on its own (PUT): problems point at "/field", not "/kind/index/field".
    single: bool = False

    def records(self, kind: str) -> Sequence[Any]:
        records: Sequence[Any] = getattr(self, kind)
        return records


@dataclass
class SyncResult:
    """What happened to each record, in the order the records were sent."""

    outcomes: dict[str, list[tuple[str, Outcome]]]
    #: The internal id of each record's row, in the same order.
    ids: dict[str, list[int]]

    def counts(self) -> dict[str, dict[str, int]]:
        counts = {kind: {"created": 0, "updated": 0, "unchanged": 0} for kind in KINDS}
        for kind, outcomes in self.outcomes.items():
            for _external_id, outcome in outcomes:
                counts[kind][outcome] += 1
        return counts
