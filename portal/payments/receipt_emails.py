"""The emails about one payment: the receipt, the ACH outcome and a refund, each with the
receipt PDF attached, queued in the caller's transaction (portal.mail's outbox).
"""

from __future__ import annotations

from sqlalchemy import select

from portal.billing.models import Client
from portal.db import db
from portal.errors import NotFound
from portal.firms import identity
from portal.firms.services import firm_by_id
from portal.mail import send_after_commit
from portal.payments import receipts
from portal.payments.models import Payment, PaymentMethod
from portal.payments.receipt_pdf import receipt_filename, receipt_pdf
from portal.templating import locale_scope


def queue_receipt_email(payment: Payment, kind: str, *, refunded_minor: int = 0) -> None:
    """Queue the receipt ("receipt"), the ACH outcome ("settled" / "failed") or a refund
    ("refund", for `refunded_minor` given back just now) for sending, with the receipt PDF.

    The email goes once the current transaction commits, from the firm's sender identity, in
    the language of the page the payment was made on (a third party paying a client's invoice
    on a Spanish site reads Spanish), else, for payments from before that was kept, in the
    client's. It goes to each address of `payment.receipt_to`: the ones staff typed in the
    console, else the payer's.
    """
    addresses = payment.receipt_to
    if not addresses:
        return
    locale = payment.payer_locale or db.session.scalar(
        select(Client.locale).where(Client.id == payment.client_id)
    )
    with locale_scope(locale):
        receipt = receipts.receipt_for(payment)  # in the email's language: it names the bank
        if payment.payer_reference is not None:  # the public pay page: maybe not the client
            receipt = receipt.for_public_payer()
        if payment.payer_typed_minor is not None and receipt.status not in receipts.TAKEN:
            receipt = receipt.as_typed(payment.payer_typed_minor)
        pdf = receipt_pdf(receipt)
    for address in addresses:  # staff may type several: one email to each
        message = identity.compose_email(
            firm_by_id(payment.firm_id),
            "receipt",
            to=address,
            locale=locale,
            receipt=receipt,
            kind=kind,
            refunded_minor=refunded_minor,
            is_ach=payment.method is PaymentMethod.ACH,
        )
        message.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=receipt_filename(receipt)
        )
        send_after_commit(
            message,
            kind=receipts.REFUND_EMAIL if kind == "refund" else receipts.RECEIPT_EMAIL,
            ref=payment.public_id,
        )


def resend_receipt(firm_id: int, public_id: str) -> bool:
    """Queue the firm's payment `public_id`'s receipt again, to the payer (commits).

    The console's "Resend the receipt". False when the payment has no receipt address
    (nothing queued); NotFound for another firm's payment.
    """
    with db.transaction():
        payment = db.session.scalar(
            select(Payment).where(Payment.firm_id == firm_id, Payment.public_id == public_id)
        )
        if payment is None:
            raise NotFound("No payment of this firm has this id.")
        if not payment.receipt_to:
            return False
        queue_receipt_email(payment, "receipt")
    return True
