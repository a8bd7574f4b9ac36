"""What payments tell the firm's back office: the bodies of payment postings, and queueing them.

A posting names the payment and charge, the client and each matter and invoice by the back
office's own external ids, the bank account and ledger codes of the merchant account, the
A/R message, the dates, the payer and the instrument (brand and last four digits only), and
amounts as integers of minor units with their currency. The body is built here, from the
rows payments owns, and handed to the outbox (`portal.postings.outbox.enqueue`) in the
caller's transaction; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal import clock
from portal.billing.models import Client, Invoice, Matter
from portal.db import db
from portal.firms.models import Firm, MerchantAccount, MerchantAccountKind
from portal.firms.services import firm_zone
from portal.payments.models import (
    AllocationKind,
    Charge,
    ChargeStatus,
    Payment,
    PaymentMethod,
    Refund,
)
from portal.postings import outbox, payloads
from portal.postings.models import OutboundMessage
from portal.trust_requests.models import TrustRequest

S = ChargeStatus

#: How long after it succeeded a payment can still be taken back: ACH returns (60 days for
#: consumer debits) and card chargebacks (about 120 days). The back office should not
#: disburse trust money against it blindly before then.
RETURN_WINDOW = {
    PaymentMethod.ACH: dt.timedelta(days=60),
    PaymentMethod.CARD: dt.timedelta(days=120),
}
_AVAILABLE = frozenset({ChargeStatus.SUCCEEDED, ChargeStatus.PARTIALLY_REFUNDED})


def _firm(firm_id: int) -> Firm:
    firm = db.session.get(Firm, firm_id)
    if firm is None:  # every charge keeps its firm through a foreign key
        raise LookupError(f"firm {firm_id} vanished")
    return firm


def ar_message(firm: Firm, default: str, note: str | None) -> str:
    """The firm's A/R message (or the portal's default), with the payment's own note after it."""
    base = (firm.ar_message or default).strip()
    note = (note or "").strip()
    if base and note:
        return f"{base} - {note}"
    return base or note


def _account(account: MerchantAccount | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {
        "kind": account.kind.value,
        "label": account.label,
        "bank_account_code": account.bank_account_code,
        "ledger_code": account.ledger_code,
        "transaction_type": account.transaction_type,
    }


def _operating_account(firm_id: int, currency: str) -> MerchantAccount | None:
    return db.session.scalar(
        select(MerchantAccount).where(
            MerchantAccount.firm_id == firm_id,
            MerchantAccount.kind == MerchantAccountKind.OPERATING,
            MerchantAccount.currency == currency,
        )
    )


def charge_data(
    charge: Charge, *, firm: Firm, default_ar_message: str, ar_note: str | None = None
) -> dict[str, Any]:
    """Describe one charge (the part of a payment that went to one merchant account)."""
    payment = charge.payment
    client = db.session.get(Client, payment.client_id) if payment.client_id is not None else None
    lines = charge.allocations
    matters = {
        row.id: row
        for row in db.session.execute(
            select(Matter.id, Matter.external_id, Matter.number).where(
                Matter.id.in_({line.matter_id for line in lines})
            )
        )
    }
    invoice_ids = [line.invoice_id for line in lines if line.invoice_id is not None]
    invoices = {
        row.id: row
        for row in db.session.execute(
            select(Invoice.id, Invoice.external_id, Invoice.number).where(
                Invoice.id.in_(invoice_ids)
            )
        )
    }
    request_ids = [line.trust_request_id for line in lines if line.trust_request_id is not None]
    requests = (
        {
            row.id: row
            for row in db.session.execute(
                select(
                    TrustRequest.id, TrustRequest.public_id, TrustRequest.kind, TrustRequest.memo
                ).where(TrustRequest.id.in_(request_ids))
            )
        }
        if request_ids
        else {}
    )
    allocations = []
    for line in lines:
        matter = matters[line.matter_id]
        item: dict[str, Any] = {
            "kind": line.kind.value,
            "matter": {"external_id": matter.external_id, "number": matter.number},
            "amount_minor": line.amount_minor,
            "refunded_minor": line.refunded_minor,
        }
        if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
            invoice = invoices[line.invoice_id]
            item["invoice"] = {"external_id": invoice.external_id, "number": invoice.number}
        if line.trust_request_id is not None:
            request = requests[line.trust_request_id]
            item["trust_request"] = {
                "id": request.public_id,
                "kind": request.kind.value,
                "memo": request.memo,
            }
        allocations.append(item)

    # Days are the firm's: a payment at 11:30 pm in New York is that day's, not UTC's next.
    zone = firm_zone(firm)
    transaction_date = clock.local_day(payment.created_at, zone)
    posted_date = charge.settled_on
    if firm.use_posted_date:
        # Firms that book on deposit want the bank statement's date; until the money has
        # reached the bank (ACH still processing) there is none to give.
        posting_date, basis = posted_date, "posted_date"
    else:
        posting_date, basis = transaction_date, "transaction_date"
    available = charge.status in _AVAILABLE
    window_ends = None
    if charge.succeeded_at is not None and charge.status not in (
        ChargeStatus.FAILED,
        ChargeStatus.CANCELED,
    ):
        window_ends = clock.local_day(charge.succeeded_at + RETURN_WINDOW[charge.method], zone)
    operating = (
        charge.merchant_account
        if charge.account_kind is MerchantAccountKind.OPERATING
        else _operating_account(charge.firm_id, charge.currency)
    )
    return {
        "payment_id": payment.public_id,
        "charge_id": charge.public_id,
        "status": charge.status.value,
        "currency": charge.currency,
        "amount_minor": charge.amount_minor,
        "refunded_minor": charge.refunded_minor,
        "client": {
            "external_id": client.external_id if client else None,
            "name": client.name if client else None,
        },
        "account": _account(charge.merchant_account),
        "allocations": allocations,
        # Money no allocation names (public pay page, reference matched nothing): the firm
        # applies it by hand. `payer_reference` is what the payer typed, unverified.
        "unmatched": charge.unapplied_minor > 0,
        "unapplied_minor": charge.unapplied_minor,
        "payer_reference": payment.payer_reference,
        # Processing fees are the firm's cost: they never come out of trust.
        "processing_fee": {
            "amount_minor": charge.fee_minor,
            "currency": charge.currency,
            "borne_by": MerchantAccountKind.OPERATING.value,
            "account": _account(operating),
        },
        "ar_message": ar_message(
            firm, default_ar_message, ar_note if ar_note is not None else payment.ar_note
        ),
        "transaction_date": transaction_date.isoformat(),
        "posted_date": payloads.iso_date(posted_date),
        "posting_date": payloads.iso_date(posting_date),
        "posting_date_basis": basis,
        "funds": {"available": available, "return_window_ends_on": payloads.iso_date(window_ends)},
        "payer": {"name": payment.payer_name, "email": payment.payer_email},
        "method": {
            "type": charge.method.value,
            "brand": charge.instrument_brand,
            "last4": charge.instrument_last4,
        },
        "processor": {"name": charge.gateway, "reference": charge.gateway_ref},
    }


def refund_data(charge: Charge, refund_ref: str | None, amount_minor: int | None) -> dict[str, Any]:
    """Which refund a payment.refunded posting is about, and what it took from."""
    refund = None
    if refund_ref:
        refund = db.session.scalar(
            select(Refund).where(Refund.charge_id == charge.id, Refund.public_id == refund_ref)
        )
    if refund is None:
        return {"id": refund_ref, "amount_minor": amount_minor, "allocation": None, "reason": ""}
    position = next(
        (n for n, line in enumerate(charge.allocations) if line.id == refund.allocation_id), None
    )
    return {
        "id": refund.public_id,
        "amount_minor": refund.amount_minor,
        # Index into `allocations`, so the back office knows which invoice or matter it hits.
        "allocation": position,
        "reason": refund.reason,
    }


def trust_shortfall_data(charge: Charge, *, matter_id: int, balance_minor: int) -> dict[str, Any]:
    """A reversal took a matter's trust balance below zero: the firm must cover it."""
    # A SUM over PostgreSQL's bigint comes back as Decimal; the wire carries integers.
    balance_minor = int(balance_minor)
    matter = db.session.get(Matter, matter_id)
    client = db.session.get(Client, matter.client_id) if matter else None
    return {
        "payment_id": charge.payment.public_id,
        "charge_id": charge.public_id,
        "client": {"external_id": client.external_id if client else None},
        "matter": {
            "external_id": matter.external_id if matter else None,
            "number": matter.number if matter else None,
        },
        "currency": charge.currency,
        "trust_balance_minor": balance_minor,
        "shortfall_minor": -balance_minor if balance_minor < 0 else 0,
    }


def enqueue_for_charge(
    charge: Charge,
    event_type: str,
    *,
    ar_note: str | None = None,
    extra: dict[str, Any] | None = None,
) -> OutboundMessage:
    """Queue a payment posting about `charge` in the caller's transaction (never commits).

    The body is built now, from the charge as it stands, and sent as is however late the
    back office takes it. A firm that posts by hand (auto_post off) gets it held until released.
    """
    if event_type not in payloads.PAYMENT_EVENTS:
        raise ValueError(f"{event_type!r} is not a payment event")
    firm = _firm(charge.firm_id)
    data = charge_data(
        charge,
        firm=firm,
        default_ar_message=str(current_app.config["WEBHOOK_DEFAULT_AR_MESSAGE"]),
        ar_note=ar_note,
    )
    data.update(extra or {})
    return outbox.enqueue(
        firm_id=firm.id,
        event_type=event_type,
        data=data,
        payment_id=charge.payment_id,
        charge_id=charge.id,
        held=not firm.auto_post,
    )


def posting_type(before: ChargeStatus, to: ChargeStatus) -> str | None:
    """The posting a charge's move calls for, or None when the back office has nothing to book.

    A card declined on the spot was never posted, so its failure is not either; a bank
    debit that failed after "processing" was, and is.
    """
    if to is S.PROCESSING:
        return payloads.PAYMENT_PROCESSING
    if to is S.SUCCEEDED:
        return payloads.PAYMENT_DISPUTE_WON if before is S.DISPUTED else payloads.PAYMENT_SUCCEEDED
    if to in (S.FAILED, S.CANCELED):
        return payloads.PAYMENT_FAILED if before is S.PROCESSING else None
    if to in (S.PARTIALLY_REFUNDED, S.REFUNDED):
        return payloads.PAYMENT_REFUNDED
    if to is S.RETURNED:
        return payloads.PAYMENT_RETURNED
    if to is S.DISPUTED:
        return payloads.PAYMENT_DISPUTED
    return None


def enqueue_for_transition(
    charge: Charge,
    *,
    before: ChargeStatus,
    to: ChargeStatus,
    source_ref: str | None = None,
    reason: str = "",
    amount_minor: int | None = None,
) -> OutboundMessage | None:
    """Queue the posting for a charge that just moved from `before` to `to` (never commits).

    Meant to be called by `payments.services.transition` after the move's money effects,
    in the same transaction.
    """
    type_ = posting_type(before, to)
    if type_ is None:
        return None
    extra: dict[str, Any] = {}
    if type_ == payloads.PAYMENT_REFUNDED:
        extra["refund"] = refund_data(charge, source_ref, amount_minor)
    elif type_ == payloads.PAYMENT_FAILED:
        extra["failure"] = {"code": charge.failure_code, "message": charge.failure_message}
    elif type_ in (payloads.PAYMENT_RETURNED, payloads.PAYMENT_DISPUTED):
        extra["reversal"] = {
            "amount_minor": (
                amount_minor
                if amount_minor is not None
                else charge.amount_minor - charge.refunded_minor
            ),
            "reason": reason,
        }
    elif type_ == payloads.PAYMENT_DISPUTE_WON:
        extra["dispute"] = {"outcome": "won", "reason": reason}
    return enqueue_for_charge(charge, type_, extra=extra)


def enqueue_trust_shortfall(
    charge: Charge, *, matter_id: int, balance_minor: int
) -> OutboundMessage:
    """Tell the back office a reversal took a matter's trust below zero (never commits).

    This is an alarm, not a posting: it is never held, even for firms that post by hand.
    """
    return outbox.enqueue(
        firm_id=charge.firm_id,
        event_type=payloads.TRUST_SHORTFALL,
        data=trust_shortfall_data(charge, matter_id=matter_id, balance_minor=balance_minor),
        payment_id=charge.payment_id,
        charge_id=charge.id,
    )


def payment_public_ids(payment_ids: Iterable[int | None]) -> dict[int, str]:
    """Public ids of the given payments, by row id (the API's message list shows them)."""
    wanted = {payment_id for payment_id in payment_ids if payment_id is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(Payment.id, Payment.public_id).where(Payment.id.in_(wanted)))
    return {row_id: public_id for row_id, public_id in rows}
