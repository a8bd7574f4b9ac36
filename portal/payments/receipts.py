"""What a receipt says: each allocation, its destination account, the method, a reference.

One `Receipt` feeds the receipt page and the receipt emails, so they can never disagree.
Only a brand or bank name and the last four digits of the instrument ever appear.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from flask_babel import gettext, lazy_gettext
from sqlalchemy import select

from portal.billing.models import Client, Invoice, Matter
from portal.db import db
from portal.firms import identity
from portal.firms.models import Firm
from portal.firms.services import firm_by_id, label_in
from portal.mail import send_after_commit
from portal.payments.instruments import instrument_text
from portal.payments.models import (
    AllocationKind,
    ChargeStatus,
    Payment,
    PaymentMethod,
    payment_status,
)
from portal.templating import current_locale, locale_scope
from portal.trust_requests.models import TrustRequest

#: What a failure code tells the payer, in their language. The processor's own message (stored
#: on the charge, in English, and posted to the firm) is shown only to English readers and
#: only for codes not listed here.
_FAILURES = {
    "card_declined": lazy_gettext("Your card was declined."),
    "generic_decline": lazy_gettext("Your card was declined."),
    "do_not_honor": lazy_gettext("Your card was declined."),
    "insufficient_funds": lazy_gettext("There was not enough money for this payment."),
    "expired_card": lazy_gettext("Your card has expired."),
    "incorrect_cvc": lazy_gettext("Your card's security code is incorrect."),
    "invalid_cvc": lazy_gettext("Your card's security code is incorrect."),
    "incorrect_number": lazy_gettext("The card number is incorrect."),
    "invalid_number": lazy_gettext("The card number is incorrect."),
    "lost_card": lazy_gettext("Your card was declined."),
    "stolen_card": lazy_gettext("Your card was declined."),
    "processing_error": lazy_gettext(
        "The payment could not be processed. Please try again in a few minutes."
    ),
    "authentication_required": lazy_gettext(
        "Your bank asked to confirm this payment, and it could not be confirmed."
    ),
    "payment_intent_authentication_failure": lazy_gettext(
        "Your bank did not confirm this payment."
    ),
    "account_closed": lazy_gettext("The bank account is closed."),
    "no_account": lazy_gettext("The bank account could not be found."),
    "debit_not_authorized": lazy_gettext("The account holder did not authorize the debit."),
    "use_test_number": lazy_gettext(
        "Test mode takes only test numbers, for example card 4242 4242 4242 4242 or routing "
        "number 110000000 with account number 000123456789."
    ),
    "canceled": lazy_gettext("The payment was canceled."),
    "payment_failed": lazy_gettext("The payment was not completed."),
}


def failure_text(code: str | None, stored: str | None) -> str:
    """Why a charge failed, for the payer, in the locale being rendered."""
    known = _FAILURES.get(code or "")
    if known is not None:
        return str(known)
    if stored and current_locale().startswith("en"):
        return stored
    return gettext("The payment was declined.")


@dataclass(frozen=True)
class ReceiptLine:
    kind: str  # "invoice" or "trust_deposit"
    label: str  # invoice number, or the matter number for a deposit
    matter_number: str
    matter_title: str
    amount_minor: int
    #: For a deposit that pays a trust request: the request's memo ("" when it has none).
    request_memo: str | None = None


@dataclass(frozen=True)
class ReceiptCharge:
    reference: str
    #: The account's label, and its label per language (read in `account_label`).
    account_name: str
    account_names: tuple[tuple[str, str], ...]
    account_kind: str
    amount_minor: int
    status: str
    #: The processor's code and message, for failed charges only (see `failure_text`).
    failure_code: str | None
    failure_message: str | None
    lines: tuple[ReceiptLine, ...]

    @property
    def account_label(self) -> str:
        """The account's name in the language being rendered (read at render time, like
        `failure_text`, so an email in the client's locale_scope names it in theirs)."""
        return label_in(self.account_name, dict(self.account_names), current_locale())

    @property
    def failure_text(self) -> str | None:
        """Why it failed, in the language being rendered (read at render time, so an email in
        the client's locale_scope gets the client's language)."""
        if self.failure_code is None and self.failure_message is None:
            return None
        return failure_text(self.failure_code, self.failure_message)


@dataclass(frozen=True)
class Receipt:
    reference: str
    firm_name: str
    payer_name: str
    method: str  # "card" or "ach"
    instrument: str  # e.g. "visa •••• 4242"
    currency: str
    total_minor: int
    created_at: dt.datetime
    status: str
    charges: tuple[ReceiptCharge, ...]
    #: The firm's brand colour ("#rrggbb") for the email's header; None for the portal's own.
    brand_colour: str | None = None

    @property
    def is_processing(self) -> bool:
        return any(c.status in ("created", "processing") for c in self.charges)

    def as_typed(self, typed_minor: int) -> Receipt:
        """This receipt as a stranger on the public pay page may see it before the money was
        taken: the amount they typed, and no invoice (whether their reference matched one,
        and its balance, are the firm's business)."""
        return replace(
            self,
            total_minor=typed_minor,
            charges=tuple(
                replace(charge, amount_minor=typed_minor, lines=()) for charge in self.charges
            ),
        )

    @property
    def paid_minor(self) -> int:
        ok = {"succeeded", "partially_refunded", "refunded", "disputed"}
        return sum(c.amount_minor for c in self.charges if c.status in ok)


#: Payment states in which the money was taken (a public payer's receipt then shows it all).
_TAKEN = frozenset({"succeeded", "partially_refunded", "refunded", "disputed"})


def amount_shown_to_payer(payment: Payment, status: str) -> int:
    """What a receipt (page, postMessage, email) tells the payer was paid.

    What was charged, except on the public pay page until the money was taken (declined,
    processing): then what the payer typed, since the charged amount may be an invoice's
    balance (capped) and a stranger probing with a declining card must not learn it.
    """
    if status in _TAKEN or payment.payer_typed_minor is None:
        return payment.total_minor
    return payment.payer_typed_minor


def receipt_for(payment: Payment) -> Receipt:
    """Gather everything a receipt shows, in three queries whatever the basket's size."""
    lines = [line for charge in payment.charges for line in charge.allocations]
    invoice_numbers = dict(
        db.session.execute(
            select(Invoice.id, Invoice.number).where(
                Invoice.id.in_([line.invoice_id for line in lines if line.invoice_id is not None])
            )
        ).all()
    )
    matters = {
        row.id: row
        for row in db.session.execute(
            select(Matter.id, Matter.number, Matter.title).where(
                Matter.id.in_({line.matter_id for line in lines})
            )
        )
    }
    firm_row = db.session.execute(
        select(Firm.name, Firm.brand_colour).where(Firm.id == payment.firm_id)
    ).first()
    firm_name, brand_colour = (firm_row[0], firm_row[1]) if firm_row else ("", None)
    request_ids = [line.trust_request_id for line in lines if line.trust_request_id is not None]
    memos: dict[int, str] = {}
    if request_ids:  # no query for the usual payment, which pays no request
        memos = {
            request_id: memo
            for request_id, memo in db.session.execute(
                select(TrustRequest.id, TrustRequest.memo).where(TrustRequest.id.in_(request_ids))
            )
        }
    first = payment.charges[0]
    instrument = instrument_text(first.instrument_brand, first.instrument_last4)
    charges = []
    for charge in payment.charges:
        charges.append(
            ReceiptCharge(
                reference=charge.public_id,
                account_name=charge.merchant_account.label,
                account_names=tuple(sorted((charge.merchant_account.labels or {}).items())),
                account_kind=charge.account_kind.value,
                amount_minor=charge.amount_minor,
                status=charge.status.value,
                failure_code=charge.failure_code if charge.status is ChargeStatus.FAILED else None,
                failure_message=charge.failure_message
                if charge.status is ChargeStatus.FAILED
                else None,
                lines=tuple(
                    ReceiptLine(
                        kind=line.kind.value,
                        label=(
                            invoice_numbers.get(line.invoice_id, "")
                            if line.kind is AllocationKind.INVOICE and line.invoice_id is not None
                            else matters[line.matter_id].number
                        ),
                        matter_number=matters[line.matter_id].number,
                        matter_title=matters[line.matter_id].title,
                        amount_minor=line.amount_minor,
                        request_memo=(
                            None
                            if line.trust_request_id is None
                            else memos.get(line.trust_request_id, "")
                        ),
                    )
                    for line in charge.allocations
                ),
            )
        )
    return Receipt(
        reference=payment.public_id,
        firm_name=firm_name,
        payer_name=payment.payer_name,
        method=payment.method.value,
        instrument=instrument,
        currency=payment.currency,
        total_minor=payment.total_minor,
        created_at=payment.created_at,
        status=payment_status(payment),
        charges=tuple(charges),
        brand_colour=brand_colour,
    )


def queue_receipt_email(payment: Payment, kind: str) -> None:
    """Queue the receipt ("receipt"), or the ACH outcome ("settled" / "failed"), for sending.

    The email goes once the current transaction commits, in the language of the page the
    payment was made on (a third party paying a client's invoice on a Spanish site reads
    Spanish), else, for payments from before that was kept, in the client's.
    """
    if not payment.payer_email:
        return
    locale = payment.payer_locale or db.session.scalar(
        select(Client.locale).where(Client.id == payment.client_id)
    )
    with locale_scope(locale):
        receipt = receipt_for(payment)  # in the email's language: it names the bank
        if payment.payer_typed_minor is not None and receipt.status not in _TAKEN:
            receipt = receipt.as_typed(payment.payer_typed_minor)
    message = identity.compose_email(
        firm_by_id(payment.firm_id),
        "receipt",
        to=payment.payer_email,
        locale=locale,
        receipt=receipt,
        kind=kind,
        is_ach=payment.method is PaymentMethod.ACH,
    )
    send_after_commit(message)
