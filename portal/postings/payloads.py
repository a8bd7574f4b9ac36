"""The bodies of postings: everything a back office needs to book a payment without asking.

A posting names the payment and charge, the client and each matter and invoice by the back
office's own external ids, the bank account and ledger codes of the merchant account, the
A/R message, the dates, the payer and the instrument (brand and last four digits only), and
amounts as integers of minor units with their currency. Nothing here is shown to clients.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from portal.billing.models import Client, Invoice, Matter
from portal.db import db
from portal.firms.models import Firm, MerchantAccount, MerchantAccountKind
from portal.links.models import LinkDelivery
from portal.payments.models import AllocationKind, Charge, ChargeStatus, PaymentMethod, Refund
from portal.trust_requests.models import TrustRequest

#: Changes to the body's shape get a new version; receivers may branch on it.
API_VERSION = "2026-11-22"

PAYMENT_PROCESSING = "payment.processing"
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REFUNDED = "payment.refunded"
PAYMENT_RETURNED = "payment.returned"
PAYMENT_DISPUTED = "payment.disputed"
#: A dispute ended in the firm's favour and the money came back.
PAYMENT_DISPUTE_WON = "payment.dispute_won"
TRUST_SHORTFALL = "trust.shortfall"
#: A trust request (portal.trust_requests) was paid in full.
TRUST_REQUEST_PAID = "trust_request.paid"
#: An email carrying a client link could not be handed to the mail server.
LINK_DELIVERY_FAILED = "link.delivery_failed"
ENDPOINT_DISABLED = "endpoint.disabled"
PING = "ping"

PAYMENT_EVENTS = frozenset(
    {
        PAYMENT_PROCESSING,
        PAYMENT_SUCCEEDED,
        PAYMENT_FAILED,
        PAYMENT_REFUNDED,
        PAYMENT_RETURNED,
        PAYMENT_DISPUTED,
        PAYMENT_DISPUTE_WON,
    }
)
EVENT_TYPES = PAYMENT_EVENTS | {
    TRUST_SHORTFALL,
    TRUST_REQUEST_PAID,
    LINK_DELIVERY_FAILED,
    ENDPOINT_DISABLED,
    PING,
}

#: How long after it succeeded a payment can still be taken back: ACH returns (60 days for
#: consumer debits) and card chargebacks (about 120 days). The back office should not
#: disburse trust money against it blindly before then.
RETURN_WINDOW = {
    PaymentMethod.ACH: dt.timedelta(days=60),
    PaymentMethod.CARD: dt.timedelta(days=120),
}
_AVAILABLE = frozenset({ChargeStatus.SUCCEEDED, ChargeStatus.PARTIALLY_REFUNDED})


def body(
    *, msg_id: str, type_: str, occurred_at: dt.datetime, sequence: int | None, data: dict[str, Any]
) -> str:
    """Serialise the envelope exactly once; these bytes are what is signed and sent."""
    envelope = {
        "id": msg_id,
        "type": type_,
        "timestamp": iso_instant(occurred_at),
        "api_version": API_VERSION,
        "sequence": sequence,
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def iso_instant(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso_date(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


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

    transaction_date = payment.created_at.date()
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
        window_ends = (charge.succeeded_at + RETURN_WINDOW[charge.method]).date()
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
        "posted_date": _iso_date(posted_date),
        "posting_date": _iso_date(posting_date),
        "posting_date_basis": basis,
        "funds": {"available": available, "return_window_ends_on": _iso_date(window_ends)},
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


def trust_request_data(request: TrustRequest, charge: Charge | None) -> dict[str, Any]:
    """A trust request paid in full: what was asked, what was paid, and the payment that did it."""
    matter = db.session.get(Matter, request.matter_id)
    client = db.session.get(Client, matter.client_id) if matter else None
    return {
        "trust_request": {
            "id": request.public_id,
            "kind": request.kind.value,
            "memo": request.memo,
            "source": request.source.value,
            "status": request.status.value,
            "currency": request.currency,
            "amount_minor": request.amount_minor,
            "paid_minor": request.paid_minor,
            "due_on": _iso_date(request.due_on),
            "paid_at": None if request.paid_at is None else iso_instant(request.paid_at),
        },
        "client": {"external_id": client.external_id if client else None},
        "matter": {
            "external_id": matter.external_id if matter else None,
            "number": matter.number if matter else None,
        },
        "payment_id": charge.payment.public_id if charge is not None else None,
        "charge_id": charge.public_id if charge is not None else None,
    }


def link_delivery_failed_data(delivery: LinkDelivery) -> dict[str, Any]:
    """A link email bounced at the mail server: which link, to whom, and what the server said."""
    link = delivery.link
    return {
        "link_id": link.public_id,
        "delivery_id": delivery.public_id,
        "origin": delivery.origin.value,
        "client": {"external_id": link.client.external_id},
        "email": delivery.recipient,
        "error": delivery.error,
        "failed_at": iso_instant(delivery.failed_at) if delivery.failed_at else None,
        "link_expires_at": iso_instant(link.expires_at),
    }
