"""Writing a checked batch of back-office records: rows are created or changed only where the
content differs, in dependency order (clients, matters, invoices, trust entries), so a record
may refer to one sent earlier in the batch.

Payments taken through the portal change the same figures the back office sends, so each
figure is kept from counting a portal payment twice:

- An invoice stores the balance exactly as sent (`synced_balance_minor`) and lists the portal
  payments that balance already reflects (`portal_payments`, marked on their allocations as
  `acknowledged_at`). Its effective balance due is the synced one less every settled portal
  allocation the back office has not acknowledged (`effective_balance`).
- A trust entry may name the portal payment whose deposit it records (`portal_payment`); the
  portal's own entry for that deposit is then superseded by it and no longer counted.

Nothing here commits: `portal.backoffice.services.sync` owns the unit of work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from portal import clock
from portal.backoffice.check import Check, _present
from portal.backoffice.records import (
    KINDS,
    ClientRecord,
    InvoiceRecord,
    MatterRecord,
    Outcome,
    SyncResult,
)
from portal.billing import services as billing
from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.errors import ValidationFailed
from portal.ledger import services as ledger
from portal.payments import acknowledgements
from portal.payments.models import SETTLED, Allocation


class Sync(Check):
    """One attempt at applying a batch: load what exists, check everything, then write."""

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
            if acknowledgements.acknowledge(self.allocations.get(invoice.id, ()), listed, now):
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
            elif billing.update_record(row, values, now):
                outcome = "updated"
            elif record.external_id in also_changed:
                row.updated_at = now
                outcome = "updated"
            else:
                outcome = "unchanged"
            result.outcomes[kind].append((record.external_id, outcome))
        ids.update(billing.insert_records(kind, self.firm_id, new))
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
        new: list[ledger.BackOfficeEntry] = []
        for _, r in _present(self.batch.trust_entries):
            outcome: Outcome = "unchanged"  # _check refused every entry that differs
            if r.external_id not in self.entries:
                new.append(
                    ledger.BackOfficeEntry(
                        record=r,
                        matter_id=self.matter_ids[r.matter],
                        charge_id=self.entry_charge.get(r.external_id),
                    )
                )
                outcome = "created"
            result.outcomes["trust_entries"].append((r.external_id, outcome))
        ids.update(ledger.append_back_office_entries(firm_id=self.firm_id, entries=new, now=now))
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
