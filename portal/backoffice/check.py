"""Checking a batch of back-office records before anything is written: load what exists (one
query per kind and per few hundred ids, never one per record), then collect every problem, so
one answer lists them all. Reads only; `portal.backoffice.sync` writes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any, TypeVar

from sqlalchemy import select

from portal.backoffice.records import KINDS, SyncBatch
from portal.billing.models import Client, Invoice, Matter
from portal.db import chunked, db
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.ledger import services as ledger
from portal.ledger.services import TrustEntryRecord
from portal.payments import queries as payment_queries
from portal.payments.models import Allocation, AllocationKind, Payment

R = TypeVar("R")


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


class Check:
    """A batch checked against what is stored: `problems` (422) and `conflicts` (409, trust
    entries sent again with other content) once `load` and `check` have run."""

    def __init__(self, firm_id: int, batch: SyncBatch) -> None:
        self.firm_id = firm_id
        self.batch = batch
        self.problems: list[dict[str, str]] = []
        self.conflicts: list[dict[str, str]] = []
        self._trust_currency: str | None = None

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


def problems(*, firm_id: int, batch: SyncBatch) -> list[dict[str, str]]:
    """The validation problems a sync would report for `batch`, without writing anything."""
    check = Check(firm_id, batch)
    check._load()
    check._check()
    return check.problems
