"""The emails about one payment: the receipt, the ACH outcome and a refund, each with the
receipt PDF attached, queued in the caller's transaction (portal.mail's outbox).
"""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from portal.billing.models import Client
from portal.db import db
from portal.firms import branding
from portal.firms.models import Firm
from portal.mail import compose, send_after_commit
from portal.payments import receipts
from portal.payments.models import Payment, PaymentMethod
from portal.payments.receipt_pdf import receipt_filename, receipt_pdf
from portal.templating import locale_scope


def queue_receipt_email(payment: Payment, kind: str, *, refunded_minor: int = 0) -> None:
    """Queue the receipt ("receipt"), the ACH outcome ("settled" / "failed") or a refund
    ("refund", for `refunded_minor` given back just now) for sending, with the receipt PDF.

    The email goes in the client's language once the current transaction commits.
    """
    if not payment.payer_email:
        return
    locale = db.session.scalar(select(Client.locale).where(Client.id == payment.client_id))
    receipt = receipts.receipt_for(payment)
    if payment.payer_reference is not None:  # the public pay page: maybe not the client
        receipt = receipt.for_public_payer()
    if payment.payer_typed_minor is not None and receipt.status not in receipts.TAKEN:
        receipt = receipt.as_typed(payment.payer_typed_minor)
    with locale_scope(locale):
        context = {
            "receipt": receipt,
            "kind": kind,
            "refunded_minor": refunded_minor,
            "is_ach": payment.method is PaymentMethod.ACH,
            "logo_url": branding.email_logo_url(db.session.get(Firm, payment.firm_id)),
        }
        subject = render_template("email/receipt/subject.txt", **context).strip()
        text = render_template("email/receipt/body.txt", **context)
        html = render_template("email/receipt/body.html", **context)
        pdf = receipt_pdf(receipt)
    message = compose(to=payment.payer_email, subject=subject, text=text, html=html)
    message.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=receipt_filename(receipt)
    )
    send_after_commit(
        message,
        kind=receipts.REFUND_EMAIL if kind == "refund" else receipts.RECEIPT_EMAIL,
        ref=payment.public_id,
    )
