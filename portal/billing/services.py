"""What the back office says is owed: upserts of clients, matters, invoices and trust entries by
external id, one at a time or in bulk, and the firm-scoped lookups the API reads them back with.

Single upserts and the bulk sync run through the same code (`sync`), so a record is judged by
the same rules whichever way it arrives. A batch is applied in dependency order (clients,
matters, invoices, trust entries) so a record may refer to one sent earlier in the batch.

Payments taken through the portal change the same figures the back office sends, so each
figure is kept from counting a portal payment twice:

- An invoice stores the balance exactly as sent (`synced_balance_minor`) and lists the portal
  payments that balance already reflects (`portal_payments`, marked on their allocations as
  `acknowledged_at`). Its effective balance due is the synced one less every settled portal
  allocation the back office has not acknowledged.
- A trust entry may name the portal payment whose deposit it records (`portal_payment`); the
  portal's own entry for that deposit is then superseded by it and no longer counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload

from portal import clock
from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import db
from portal.errors import NotFound, ValidationFailed
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.ledger import services as ledger
from portal.ledger.models import TrustEntry
from portal.ledger.services import TrustEntryRecord, chunked
from portal.payments import queries as payment_queries
from portal.payments.models import SETTLED, Allocation, AllocationKind, Charge, Payment

Outcome = Literal["created", "updated", "unchanged"]

#: The kinds of record a batch carries, in the order they are applied.
KINDS = ("clients", "matters", "invoices", "trust_entries")

#: How often a batch is tried when concurrent requests keep inserting the same external ids.
RACE_ATTEMPTS = 3

T = TypeVar("T")
R = TypeVar("R")


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


@dataclass(frozen=True, slots=True)
class TrustEntryRow:
    """A trust entry with the references the API shows by external or public id."""

    entry: TrustEntry
    matter: str
    #: Public id of the portal payment the entry records (or, for a portal entry, came from).
    portal_payment: str | None
    #: External id of the back-office entry that supersedes this portal entry, if one does.
    superseded_by: str | None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list in id order; `last_id` is where the next page starts after."""

    items: list[T]
    last_id: int | None


def sync(*, firm_id: int, batch: SyncBatch) -> SyncResult:
    """Apply every record of `batch` as one unit of work and commit, or change nothing at all.

    All records are checked before anything is written, and every problem is reported at once:
    ValidationFailed lists each bad field; when the only problems are trust entries sent with
    new content, LedgerAppendOnly (409) lists those. A record identical to what is stored is
    left alone, so repeating a sync writes nothing and keeps every `updated_at`.

    The writes run inside a savepoint. If a concurrent request inserts one of our external ids
    first, the unique constraint on (firm_id, external_id) stops our insert, the savepoint
    takes back only our writes, and the batch runs again: it now finds that row and updates it.
    """
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            with db.session.begin_nested():
                result = _Sync(firm_id, batch).run()
                _evergreen(firm_id, result)
        except IntegrityError:
            if attempt == RACE_ATTEMPTS:
                raise
            continue
        db.session.commit()
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def _evergreen(firm_id: int, result: SyncResult) -> None:
    """Ask for a trust top-up where the batch lowered trust below a matter's minimum.

    The matters looked at are those with a new trust entry in the batch and existing matters
    the batch changed (a raised minimum); a matter created by the batch is not asked for a
    top-up, since its first deposit is a retainer, not a replenishment.
    """
    from portal.trust_requests import services as trust_requests

    if not trust_requests.evergreen_enabled(firm_id):
        return
    matter_ids = {
        row_id
        for row_id, (_external_id, outcome) in zip(
            result.ids.get("matters", []), result.outcomes.get("matters", []), strict=True
        )
        if outcome == "updated"
    }
    entry_ids = [
        row_id
        for row_id, (_external_id, outcome) in zip(
            result.ids.get("trust_entries", []),
            result.outcomes.get("trust_entries", []),
            strict=True,
        )
        if outcome == "created"
    ]
    for chunk in chunked(entry_ids):
        matter_ids |= set(
            db.session.scalars(select(TrustEntry.matter_id).where(TrustEntry.id.in_(chunk)))
        )
    if matter_ids:
        trust_requests.evergreen_after_sync(firm_id, matter_ids)


def sync_problems(*, firm_id: int, batch: SyncBatch) -> list[dict[str, str]]:
    """The validation problems `sync` would report for `batch`, without writing anything."""
    check = _Sync(firm_id, batch)
    check._load()
    check._check()
    return check.problems


def upsert_client(*, firm_id: int, record: ClientRecord) -> tuple[Client, Outcome]:
    """Create or update one client by external id (commits)."""
    return _upsert_one(firm_id, "clients", SyncBatch(clients=[record], single=True))


def upsert_matter(*, firm_id: int, record: MatterRecord) -> tuple[Matter, Outcome]:
    """Create or update one matter by external id (commits)."""
    return _upsert_one(firm_id, "matters", SyncBatch(matters=[record], single=True))


def upsert_invoice(*, firm_id: int, record: InvoiceRecord) -> tuple[Invoice, Outcome]:
    """Create or update one invoice by external id (commits)."""
    return _upsert_one(firm_id, "invoices", SyncBatch(invoices=[record], single=True))


def upsert_trust_entry(*, firm_id: int, record: TrustEntryRecord) -> tuple[TrustEntry, Outcome]:
    """Append one trust entry by external id (commits); resending it unchanged is a no-op.

    Raises LedgerAppendOnly when the entry is already recorded with other content.
    """
    return _upsert_one(firm_id, "trust_entries", SyncBatch(trust_entries=[record], single=True))


_MODELS: dict[str, type[Any]] = {
    "clients": Client,
    "matters": Matter,
    "invoices": Invoice,
    "trust_entries": TrustEntry,
}


def _upsert_one(firm_id: int, kind: str, batch: SyncBatch) -> tuple[Any, Outcome]:
    result = sync(firm_id=firm_id, batch=batch)
    row = db.session.get(_MODELS[kind], result.ids[kind][0])
    return row, result.outcomes[kind][0][1]


def _present(records: Iterable[R | None]) -> Iterator[tuple[int, R]]:
    return ((i, r) for i, r in enumerate(records) if r is not None)


def _by_external_id(
    model: type[Any], firm_id: int, external_ids: Collection[str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in chunked(external_ids):
        rows = db.session.scalars(
            select(model).where(model.firm_id == firm_id, model.external_id.in_(chunk))
        )
        found.update((row.external_id, row) for row in rows)
    return found


def _apply(row: Any, values: Mapping[str, Any], now: dt.datetime) -> Outcome:
    """Write the values that differ onto `row`; touch `updated_at` only if one did."""
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    if not changed:
        return "unchanged"
    for name, value in changed.items():
        setattr(row, name, value)
    row.updated_at = now
    return "updated"


class _Sync:
    """One attempt at applying a batch: load what exists, check everything, then write."""

    def __init__(self, firm_id: int, batch: SyncBatch) -> None:
        self.firm_id = firm_id
        self.batch = batch
        self.problems: list[dict[str, str]] = []
        self.conflicts: list[dict[str, str]] = []
        self._trust_currency: str | None = None

    def run(self) -> SyncResult:
        self._load()
        self._check()
        if self.problems:
            raise ValidationFailed(
                "Some records are invalid; nothing was saved.", errors=self.problems
            )
        if self.conflicts:
            raise ledger.LedgerAppendOnly(
                "A trust entry with this external_id is already recorded with other content. "
                "The trust ledger is append-only: post a correcting entry with a new external_id.",
                errors=self.conflicts,
            )
        return self._write()

    # Loading: one query per kind and per few hundred ids, never one per record.

    def _load(self) -> None:
        b = self.batch
        client_ids = {r.external_id for _, r in _present(b.clients)}
        client_ids |= {r.client for _, r in _present(b.matters)}
        matter_ids = {r.external_id for _, r in _present(b.matters)}
        matter_ids |= {r.matter for _, r in _present(b.invoices)}
        matter_ids |= {r.matter for _, r in _present(b.trust_entries)}
        self.clients: dict[str, Client] = _by_external_id(Client, self.firm_id, client_ids)
        self.matters: dict[str, Matter] = _by_external_id(Matter, self.firm_id, matter_ids)
        self.invoices: dict[str, Invoice] = _by_external_id(
            Invoice, self.firm_id, {r.external_id for _, r in _present(b.invoices)}
        )
        self.entries = ledger.entries_by_external_id(
            self.firm_id, {r.external_id for _, r in _present(b.trust_entries)}
        )
        echoed = {p for _, r in _present(b.invoices) for p in r.portal_payments}
        echoed |= {r.portal_payment for _, r in _present(b.trust_entries) if r.portal_payment}
        #: The payments the batch names as already reflected in the back office's figures.
        self.payments: dict[str, Payment] = payment_queries.echoed_payments(self.firm_id, echoed)
        #: Portal allocations to the batch's existing invoices, by invoice id.
        self.allocations: dict[int, list[Allocation]] = payment_queries.invoice_allocations(
            invoice.id for invoice in self.invoices.values()
        )
        trust_charges = {
            charge.id
            for payment in self.payments.values()
            for charge in payment.charges
            if any(a.kind is AllocationKind.TRUST_DEPOSIT for a in charge.allocations)
        }
        #: External ids of the back-office entries already recording a portal deposit.
        self.recorded_by = ledger.back_office_records(trust_charges)
        #: The charge each trust entry of the batch records, by external id (checked).
        self.entry_charge: dict[str, int] = {}

    def _default_currency(self) -> str:
        """The currency of the firm's (first) trust merchant account."""
        if self._trust_currency is None:
            self._trust_currency = db.session.scalar(
                select(MerchantAccount.currency)
                .where(
                    MerchantAccount.firm_id == self.firm_id,
                    MerchantAccount.kind == MerchantAccountKind.TRUST,
                )
                .order_by(MerchantAccount.id)
                .limit(1)
            )
            if self._trust_currency is None:
                raise RuntimeError(f"firm {self.firm_id} has no trust merchant account")
        return self._trust_currency

    # Checking: every problem is collected, so one answer lists them all.

    def _pointer(self, kind: str, index: int, name: str = "") -> str:
        base = "" if self.batch.single else f"/{kind}/{index}"
        return f"{base}/{name}" if name else base

    def _problem(self, kind: str, index: int, name: str, detail: str) -> None:
        self.problems.append({"pointer": self._pointer(kind, index, name), "detail": detail})

    def _refused(self, kind: str, external_id: str) -> bool:
        return external_id in self.batch.refused.get(kind, ())

    def _check(self) -> None:
        for kind in KINDS:
            self._check_unique(kind)
        self._check_matters()
        self._check_invoices()
        self._check_trust_entries()

    def _check_unique(self, kind: str) -> None:
        first_at: dict[str, int] = {}
        for i, record in _present(self.batch.records(kind)):
            if record.external_id in first_at:
                earlier = self._pointer(kind, first_at[record.external_id])
                self._problem(
                    kind,
                    i,
                    "external_id",
                    f"external_id {record.external_id!r} is sent twice (first at {earlier})",
                )
            else:
                first_at[record.external_id] = i

    def _check_matters(self) -> None:
        sent_clients = {r.external_id for _, r in _present(self.batch.clients)}
        #: Each matter's currency once this batch is applied.
        self.matter_currency = {ext: matter.currency for ext, matter in self.matters.items()}
        currency_changes: list[tuple[int, int]] = []
        for i, r in _present(self.batch.matters):
            known = r.client in self.clients or r.client in sent_clients
            if not known and not self._refused("clients", r.client):
                self._problem(
                    "matters",
                    i,
                    "client",
                    f"client {r.client!r} does not exist; send the client first "
                    "(or earlier in the same sync)",
                )
            currency = r.currency or self._default_currency()
            self.matter_currency[r.external_id] = currency
            existing = self.matters.get(r.external_id)
            if existing is not None and existing.currency != currency:
                currency_changes.append((i, existing.id))
        if currency_changes:
            locked = ledger.matters_with_entries({matter_id for _, matter_id in currency_changes})
            for i, matter_id in currency_changes:
                if matter_id in locked:
                    self._problem(
                        "matters",
                        i,
                        "currency",
                        "currency cannot change because the matter already has trust entries",
                    )

    def _matter_known(self, kind: str, index: int, external_id: str) -> bool:
        if external_id in self.matter_currency:
            return True
        if not self._refused("matters", external_id):
            self._problem(
                kind,
                index,
                "matter",
                f"matter {external_id!r} does not exist; send the matter first "
                "(or earlier in the same sync)",
            )
        return False

    def _check_invoices(self) -> None:
        for i, r in _present(self.batch.invoices):
            self._matter_known("invoices", i, r.matter)
            invoice = self.invoices.get(r.external_id)
            for j, public_id in enumerate(r.portal_payments):
                name = f"portal_payments/{j}"
                payment = self.payments.get(public_id)
                if payment is None:
                    self._problem(
                        "invoices",
                        i,
                        name,
                        f"portal_payments[{j}] {public_id!r} is not a payment of this firm",
                    )
                elif invoice is None or not any(
                    line.invoice_id == invoice.id
                    for charge in payment.charges
                    for line in charge.allocations
                ):
                    self._problem(
                        "invoices",
                        i,
                        name,
                        f"portal_payments[{j}] {public_id!r} paid nothing on invoice "
                        f"{r.external_id!r}",
                    )

    def _check_trust_entries(self) -> None:
        #: The entry of this batch recording each (charge, matter), to refuse a second one.
        recorded_here: dict[tuple[int, int], str] = {}
        for i, r in _present(self.batch.trust_entries):
            if not self._matter_known("trust_entries", i, r.matter):
                continue
            matter_currency = self.matter_currency[r.matter]
            if r.currency != matter_currency:
                self._problem(
                    "trust_entries",
                    i,
                    "currency",
                    f"currency must be the matter's currency, {matter_currency}",
                )
            charge_id = self._echoed_charge(i, r, recorded_here)
            entry = self.entries.get(r.external_id)
            if entry is None:
                continue
            matter = self.matters.get(r.matter)
            # A matter first sent in this batch cannot be the one a recorded entry belongs to.
            matter_id = matter.id if matter is not None else -1
            for name in ledger.entry_differences(entry, r, matter_id, charge_id):
                self.conflicts.append(
                    {
                        "pointer": self._pointer("trust_entries", i, name),
                        "detail": f"{name} differs from the recorded entry {r.external_id!r}",
                    }
                )

    def _echoed_charge(
        self, index: int, r: TrustEntryRecord, recorded_here: dict[tuple[int, int], str]
    ) -> int | None:
        """The trust charge whose deposit entry `r` records, or None (with any problem noted)."""
        if r.portal_payment is None:
            return None
        payment = self.payments.get(r.portal_payment)
        if payment is None:
            self._problem(
                "trust_entries",
                index,
                "portal_payment",
                f"portal_payment {r.portal_payment!r} is not a payment of this firm",
            )
            return None
        if r.amount_minor < 0:
            self._problem(
                "trust_entries",
                index,
                "portal_payment",
                "only a deposit (a positive amount) can record a portal payment",
            )
            return None
        matter = self.matters.get(r.matter)
        charge = next(
            (
                charge
                for charge in payment.charges
                for line in charge.allocations
                if matter is not None
                and line.kind is AllocationKind.TRUST_DEPOSIT
                and line.matter_id == matter.id
            ),
            None,
        )
        if matter is None or charge is None:
            self._problem(
                "trust_entries",
                index,
                "portal_payment",
                f"payment {r.portal_payment!r} made no trust deposit to matter {r.matter!r}",
            )
            return None
        key = (charge.id, matter.id)
        other = self.recorded_by.get(key)
        if other is None or other == r.external_id:
            other = recorded_here.get(key)
        if other is not None and other != r.external_id:
            self._problem(
                "trust_entries",
                index,
                "portal_payment",
                f"payment {r.portal_payment!r} is already recorded by trust entry {other!r}; "
                "one deposit is recorded once",
            )
            return None
        recorded_here[key] = r.external_id
        self.entry_charge[r.external_id] = charge.id
        return charge.id

    # Writing: rows are created or changed only where the content differs.

    def _write(self) -> SyncResult:
        now = clock.now()
        result = SyncResult(outcomes={k: [] for k in KINDS}, ids={k: [] for k in KINDS})
        write = self._write_kind
        self.client_ids = write(result, "clients", self.clients, self._client_values, now)
        self.matter_ids = write(result, "matters", self.matters, self._matter_values, now)
        acknowledged = self._acknowledge(now)
        write(result, "invoices", self.invoices, self._invoice_values, now, acknowledged)
        self._write_trust_entries(result, now)
        return result

    def _acknowledge(self, now: dt.datetime) -> set[str]:
        """Mark each existing invoice's allocations acknowledged exactly when its record lists
        their payment; return the invoices whose acknowledgements changed.

        A resend that lists the same payments keeps the first `acknowledged_at`.
        """
        changed: set[str] = set()
        for _, r in _present(self.batch.invoices):
            invoice = self.invoices.get(r.external_id)
            if invoice is None:
                continue  # A new invoice has no allocations yet.
            listed = {self.payments[p].id for p in r.portal_payments if p in self.payments}
            for line in self.allocations.get(invoice.id, ()):
                if line.charge.payment_id in listed and line.acknowledged_at is None:
                    line.acknowledged_at = now
                elif line.charge.payment_id not in listed and line.acknowledged_at is not None:
                    line.acknowledged_at = None
                else:
                    continue
                changed.add(r.external_id)
        return changed

    def _write_kind(
        self,
        result: SyncResult,
        kind: str,
        existing: Mapping[str, Any],
        values_for: Any,
        now: dt.datetime,
        also_changed: Collection[str] = (),
    ) -> dict[str, int]:
        """Update the existing rows that differ and insert the new ones; return every row's id
        by external id (existing and new), for the next kind's references.

        A record in `also_changed` counts as updated even when its own columns are equal
        (something it says was recorded elsewhere)."""
        ids = {external_id: row.id for external_id, row in existing.items()}
        new: list[dict[str, Any]] = []
        for _, record in _present(self.batch.records(kind)):
            row = existing.get(record.external_id)
            values = values_for(record, row, now)
            if row is None:
                new.append(
                    {
                        "firm_id": self.firm_id,
                        "external_id": record.external_id,
                        "created_at": now,
                        "updated_at": now,
                        **values,
                    }
                )
                outcome: Outcome = "created"
            else:
                outcome = _apply(row, values, now)
                if outcome == "unchanged" and record.external_id in also_changed:
                    row.updated_at = now
                    outcome = "updated"
            result.outcomes[kind].append((record.external_id, outcome))
        ids.update(_insert(_MODELS[kind], self.firm_id, new))
        result.ids[kind] = [ids[external_id] for external_id, _ in result.outcomes[kind]]
        return ids

    def _client_values(
        self, r: ClientRecord, row: Client | None, now: dt.datetime
    ) -> dict[str, Any]:
        return {"name": r.name, "email": r.email, "locale": r.locale}

    def _matter_values(
        self, r: MatterRecord, row: Matter | None, now: dt.datetime
    ) -> dict[str, Any]:
        return {
            "client_id": self.client_ids[r.client],
            "number": r.number,
            "title": r.title,
            "trust_minimum_minor": r.trust_minimum_minor,
            "currency": self.matter_currency[r.external_id],
        }

    def _invoice_values(
        self, r: InvoiceRecord, row: Invoice | None, now: dt.datetime
    ) -> dict[str, Any]:
        balance_due = r.balance_due_minor
        if row is not None:
            balance_due = effective_balance(r.balance_due_minor, self.allocations.get(row.id, ()))
        if r.is_void:
            status = InvoiceStatus.VOID
        elif balance_due == 0:
            status = InvoiceStatus.PAID
        else:
            status = InvoiceStatus.OPEN
        # `paid_at` is set when the balance first reaches zero and cleared if the invoice is
        # reopened or voided, so it is set exactly while the invoice is paid.
        paid_at = None
        if status is InvoiceStatus.PAID:
            paid_at = row.paid_at if row is not None and row.paid_at is not None else now
        return {
            "matter_id": self.matter_ids[r.matter],
            "number": r.number,
            "issued_on": r.issued_on,
            "due_on": r.due_on,
            "currency": r.currency,
            "total_minor": r.total_minor,
            "balance_due_minor": balance_due,
            "synced_balance_minor": r.balance_due_minor,
            "description": r.description,
            "status": status,
            "paid_at": paid_at,
        }

    def _write_trust_entries(self, result: SyncResult, now: dt.datetime) -> None:
        ids = {external_id: entry.id for external_id, entry in self.entries.items()}
        new: list[dict[str, Any]] = []
        for _, r in _present(self.batch.trust_entries):
            outcome: Outcome = "unchanged"  # _check refused every entry that differs
            if r.external_id not in self.entries:
                matter_id = self.matter_ids[r.matter]
                new.append(
                    ledger.entry_values(
                        firm_id=self.firm_id,
                        record=r,
                        matter_id=matter_id,
                        now=now,
                        charge_id=self.entry_charge.get(r.external_id),
                    )
                )
                outcome = "created"
            result.outcomes["trust_entries"].append((r.external_id, outcome))
        ids.update(_insert(TrustEntry, self.firm_id, new))
        result.ids["trust_entries"] = [ids[ext] for ext, _ in result.outcomes["trust_entries"]]
        # Resent entries are included: if the portal's deposit was appended after the entry
        # first arrived without seeing it (two transactions at once), a resend repairs that.
        ledger.supersede_portal_deposits(
            {
                (charge_id, self.matter_ids[r.matter]): ids[r.external_id]
                for _, r in _present(self.batch.trust_entries)
                if (charge_id := self.entry_charge.get(r.external_id)) is not None
            }
        )


def effective_balance(synced_minor: int, allocations: Iterable[Allocation]) -> int:
    """What is still owed on an invoice whose back office last sent `synced_minor`.

    The synced balance less what the invoice's settled portal allocations brought in (net of
    refunds), leaving out those the back office acknowledged as already included. Never below 0.
    """
    paid_here = sum(
        line.amount_minor - line.refunded_minor
        for line in allocations
        if line.acknowledged_at is None and line.charge.status in SETTLED
    )
    return max(synced_minor - paid_here, 0)


def _insert(model: type[Any], firm_id: int, new: list[dict[str, Any]]) -> dict[str, int]:
    """Insert many rows at once and return their new ids by external id.

    A Core executemany and one chunked SELECT of (external_id, id), rather than a unit-of-work
    flush of new objects or INSERT ... RETURNING of whole rows: on PostgreSQL this is several
    times faster for thousands of rows. A lost insert race surfaces here, inside the savepoint.
    Pending changes to existing rows are autoflushed first.
    """
    db.session.flush()
    if not new:
        return {}
    # Insert in external-id order, so two requests racing on overlapping ids take the unique
    # index's locks in the same order: the later one waits and then fails cleanly (and is
    # retried) instead of deadlocking.
    db.session.execute(insert(model), sorted(new, key=lambda values: values["external_id"]))
    ids: dict[str, int] = {}
    for chunk in chunked([values["external_id"] for values in new]):
        rows = db.session.execute(
            select(model.external_id, model.id).where(
                model.firm_id == firm_id, model.external_id.in_(chunk)
            )
        )
        ids.update((external_id, id_) for external_id, id_ in rows)
    return ids


# Reading back: every lookup is scoped to the firm; someone else's record is "not found".


def client_by_external_id(firm_id: int, external_id: str) -> Client:
    """The firm's client with this external id."""
    return _one(select(Client).where(Client.firm_id == firm_id, Client.external_id == external_id))


def matter_by_external_id(firm_id: int, external_id: str) -> Matter:
    """The firm's matter with this external id (its client loaded too)."""
    return _one(
        select(Matter)
        .options(joinedload(Matter.client))
        .where(Matter.firm_id == firm_id, Matter.external_id == external_id)
    )


def invoice_by_external_id(firm_id: int, external_id: str) -> Invoice:
    """The firm's invoice with this external id (its matter loaded too)."""
    return _one(
        select(Invoice)
        .options(joinedload(Invoice.matter))
        .where(Invoice.firm_id == firm_id, Invoice.external_id == external_id)
    )


def _trust_entry_rows() -> Select[TrustEntry, str, str, str | None]:
    """Trust entries with their matter's external id, the payment they record (by public id)
    and the back-office entry superseding them (by external id)."""
    superseding = aliased(TrustEntry)
    return (
        select(TrustEntry, Matter.external_id, Payment.public_id, superseding.external_id)
        .join(Matter, Matter.id == TrustEntry.matter_id)
        .outerjoin(Charge, Charge.id == TrustEntry.charge_id)
        .outerjoin(Payment, Payment.id == Charge.payment_id)
        .outerjoin(superseding, superseding.id == TrustEntry.superseded_by_id)
    )


def _trust_entry_row(row: Any) -> TrustEntryRow:
    return TrustEntryRow(entry=row[0], matter=row[1], portal_payment=row[2], superseded_by=row[3])


def trust_entry_by_external_id(firm_id: int, external_id: str) -> TrustEntryRow:
    """The firm's trust entry with this external id, with the references the API shows."""
    row = db.session.execute(
        _trust_entry_rows().where(
            TrustEntry.firm_id == firm_id, TrustEntry.external_id == external_id
        )
    ).first()
    if row is None:
        raise NotFound("No trust entry has this external_id.")
    return _trust_entry_row(row)


def _one(statement: Select[Any]) -> Any:
    row = db.session.scalar(statement)
    if row is None:
        raise NotFound("No record has this external_id.")
    return row


def clients_page(*, firm_id: int, after_id: int | None, limit: int) -> Page[Client]:
    """A page of the firm's clients in id order, starting after `after_id`."""
    statement = select(Client).where(Client.firm_id == firm_id)
    rows, last_id = _page(statement, Client.id, after_id, limit)
    return Page([row[0] for row in rows], last_id)


def matters_page(*, firm_id: int, after_id: int | None, limit: int) -> Page[Matter]:
    """A page of the firm's matters in id order (clients loaded), starting after `after_id`."""
    statement = select(Matter).options(joinedload(Matter.client)).where(Matter.firm_id == firm_id)
    rows, last_id = _page(statement, Matter.id, after_id, limit)
    return Page([row[0] for row in rows], last_id)


def invoices_page(*, firm_id: int, after_id: int | None, limit: int) -> Page[Invoice]:
    """A page of the firm's invoices in id order (matters loaded), starting after `after_id`."""
    statement = (
        select(Invoice).options(joinedload(Invoice.matter)).where(Invoice.firm_id == firm_id)
    )
    rows, last_id = _page(statement, Invoice.id, after_id, limit)
    return Page([row[0] for row in rows], last_id)


def trust_entries_page(*, firm_id: int, after_id: int | None, limit: int) -> Page[TrustEntryRow]:
    """A page of the firm's trust entries in id order, with the references the API shows."""
    statement = _trust_entry_rows().where(TrustEntry.firm_id == firm_id)
    rows, last_id = _page(statement, TrustEntry.id, after_id, limit)
    return Page([_trust_entry_row(row) for row in rows], last_id)


def trust_balances(matters: Iterable[Matter]) -> dict[int, int]:
    """The trust balance of each matter in minor units, by matter id, in one query per 500."""
    return ledger.trust_balances(matter.id for matter in matters)


def _page(
    statement: Select[*tuple[Any, ...]], id_column: Any, after_id: int | None, limit: int
) -> tuple[list[Any], int | None]:
    """Keyset pagination: rows after `after_id` by id, plus the id to continue after (or None).

    One extra row is fetched to learn whether another page exists without counting.
    """
    if after_id is not None:
        statement = statement.where(id_column > after_id)
    rows = list(db.session.execute(statement.order_by(id_column).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, rows[-1][0].id


# References from other features (links): unknown ids are a problem with the field that sent them.


def referenced_client(*, firm_id: int, external_id: str, pointer: str) -> Client:
    """The firm's client named by a request field, or ValidationFailed pointing at that field."""
    client = db.session.scalar(
        select(Client).where(Client.firm_id == firm_id, Client.external_id == external_id)
    )
    if client is None:
        raise ValidationFailed(
            errors=[{"pointer": pointer, "detail": f"client {external_id!r} does not exist"}]
        )
    return client


def referenced_matters(
    *, client: Client, external_ids: Sequence[str], pointer: str
) -> list[Matter]:
    """The client's matters named by a request list, in order; any other id is refused by index.

    An unknown id and another client's (or firm's) matter get the same answer.
    """
    found = {
        matter.external_id: matter
        for chunk in chunked(set(external_ids))
        for matter in db.session.scalars(
            select(Matter).where(
                Matter.firm_id == client.firm_id,
                Matter.client_id == client.id,
                Matter.external_id.in_(chunk),
            )
        )
    }
    errors = [
        {
            "pointer": f"{pointer}/{i}",
            "detail": f"matters[{i}] {external_id!r} is not a matter of client "
            f"{client.external_id!r}",
        }
        for i, external_id in enumerate(external_ids)
        if external_id not in found
    ]
    if errors:
        raise ValidationFailed(errors=errors)
    unique = dict.fromkeys(external_ids)
    return [found[external_id] for external_id in unique]
