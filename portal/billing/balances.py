"""The money moves on an invoice's balance due and its reservations: only billing writes them.

Payments asks for one call per money move, inside its own transaction (nothing here commits):
`reserve` holds part of a balance for a charge in flight, `release` gives a hold back when the
charge fails, `pay` lowers the balance when the money arrives, `reopen` raises it again when the
money goes back out (refund, ACH return, dispute). Every move but `reserve` locks the invoice
row first (FOR UPDATE on PostgreSQL), so concurrent moves on one invoice apply one at a time.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update

from portal import clock
from portal.billing.models import Invoice, InvoiceStatus
from portal.db import db


def reserve(invoice_id: int, amount_minor: int) -> bool:
    """Hold `amount_minor` of an open invoice's balance for a charge in flight, atomically.

    Returns False, holding nothing, when the invoice is no longer open or has less than that
    left once other holds are counted. One conditional UPDATE: on PostgreSQL a racing
    transaction waits for the row and then re-checks the condition; on SQLite writers are
    serialised by BEGIN IMMEDIATE. Either way two tabs can never hold more than the balance
    due between them.
    """
    result = db.session.execute(
        update(Invoice)
        .where(
            Invoice.id == invoice_id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.balance_due_minor - Invoice.reserved_minor >= amount_minor,
        )
        .values(reserved_minor=Invoice.reserved_minor + amount_minor)
        .execution_options(synchronize_session="fetch")
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release(invoice_id: int, amount_minor: int) -> None:
    """The charge holding `amount_minor` failed or was canceled: give the hold back."""
    invoice = _locked(invoice_id)
    invoice.reserved_minor = max(invoice.reserved_minor - amount_minor, 0)


def pay(
    invoice_id: int,
    amount_minor: int,
    *,
    released_minor: int,
    already_counted: Callable[[], bool] = lambda: False,
) -> None:
    """Money arrived: release `released_minor` of the hold and lower the balance due.

    `already_counted` is asked only under the invoice's lock: when it says the back office
    already sent the balance net of this payment (a sync acknowledging it at the same moment),
    the balance is not lowered twice. An invoice paid down to zero becomes PAID.
    """
    invoice = _locked(invoice_id)
    lowered = 0 if already_counted() else amount_minor
    invoice.reserved_minor = max(invoice.reserved_minor - released_minor, 0)
    invoice.balance_due_minor = max(invoice.balance_due_minor - lowered, 0)
    if invoice.balance_due_minor == 0 and invoice.status is InvoiceStatus.OPEN:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = clock.now()
    invoice.updated_at = clock.now()


def reopen(invoice_id: int, amount_minor: int) -> None:
    """Money went back out (refund, return, dispute): raise the balance, reopening if paid."""
    invoice = _locked(invoice_id)
    invoice.balance_due_minor = min(invoice.balance_due_minor + amount_minor, invoice.total_minor)
    if invoice.balance_due_minor > 0 and invoice.status is InvoiceStatus.PAID:
        invoice.status = InvoiceStatus.OPEN
        invoice.paid_at = None
    invoice.updated_at = clock.now()


def _locked(invoice_id: int) -> Invoice:
    """Load an invoice fresh, locked for this transaction (FOR UPDATE on PostgreSQL)."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    if invoice is None:  # allocations keep their invoice through a foreign key
        raise LookupError(f"invoice {invoice_id} vanished")
    return invoice
