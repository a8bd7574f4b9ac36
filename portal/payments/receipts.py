"""What a receipt says: each allocation, its destination account, the method, a reference.

One `Receipt` feeds the receipt page and the receipt emails, so they can never disagree.
Only a brand or bank name and the last four digits of the instrument ever appear.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from flask_babel import gettext, lazy_gettext
from sqlalchemy import select

from portal.billing.models import Invoice, Matter
from portal.db import db
from portal.firms.models import Firm
from portal.firms.services import firm_zone, label_in
from portal.mail import EmailStatus, latest_for
from portal.payments.instruments import instrument_text
from portal.payments.models import (
    Allocation,
    AllocationKind,
    ChargeStatus,
    Payment,
    payment_status,
)
from portal.templating import current_locale
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
    #: For an invoice: what is still owed on it now, once payments in flight are counted
    #: (balance due less what they hold); None for a deposit.
    still_owed_minor: int | None = None


@dataclass(frozen=True)
class ReceiptCharge:
    #: The processor's own id for this charge (a PaymentIntent id), when it has one: what the
    #: firm quotes to the processor, shown after the payment number as "Processor reference".
    processor_reference: str | None
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
    #: What has been given back of this charge.
    refunded_minor: int = 0

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


#: The receipt's heading for each payment status (page, email and PDF).
_HEADINGS = {
    "created": lazy_gettext("Your payment is processing"),
    "processing": lazy_gettext("Your payment is processing"),
    "succeeded": lazy_gettext("Thank you: your payment is complete"),
    "failed": lazy_gettext("Your payment did not go through"),
    "partially_failed": lazy_gettext("Part of your payment did not go through"),
    "refunded": lazy_gettext("This payment was refunded"),
    "partially_refunded": lazy_gettext("Part of this payment was refunded"),
    "returned": lazy_gettext("Your bank returned this payment"),
    "disputed": lazy_gettext("This payment is disputed"),
}

#: A charge's status in the payer's words (templates/payments/_status.html says the same).
STATUS_WORDS = {
    "created": lazy_gettext("Processing"),
    "processing": lazy_gettext("Processing"),
    "succeeded": lazy_gettext("Paid"),
    "failed": lazy_gettext("Declined"),
    "canceled": lazy_gettext("Canceled"),
    "partially_refunded": lazy_gettext("Partly refunded"),
    "refunded": lazy_gettext("Refunded"),
    "returned": lazy_gettext("Returned by the bank"),
    "disputed": lazy_gettext("Disputed"),
    # A payment's word only (never a charge's): one of its charges went through.
    "partially_failed": lazy_gettext("Partly declined"),
}

#: Payment states in which the payer's instrument was (or is being) charged: only these say
#: "Paid by" (a declined card paid nothing; a refund says where the money went back).
_PAID_BY = frozenset({"created", "processing", "succeeded", "partially_failed", "disputed"})


@dataclass(frozen=True)
class Receipt:
    #: The payment number people read ("P-7K3Q-9M2X"), shown first.
    number: str
    #: The payment's public id: the receipt page's address, never shown as a reference.
    public_id: str
    firm_name: str
    payer_name: str
    method: str  # "card" or "ach"
    instrument: str  # e.g. "visa •••• 4242"
    currency: str
    total_minor: int
    created_at: dt.datetime
    status: str
    charges: tuple[ReceiptCharge, ...]
    #: The firm's time zone: every time on the receipt is shown in it, with its abbreviation.
    zone: dt.tzinfo = dt.UTC
    #: The firm's brand colour ("#rrggbb") for the email's header; None for the portal's own.
    brand_colour: str | None = None
    #: Where the receipt email went (queued or sent), None when none was or it failed.
    emailed_to: str | None = None

    @property
    def is_processing(self) -> bool:
        return any(c.status in ("created", "processing") for c in self.charges)

    @property
    def heading(self) -> str:
        """What happened, in a few words, in the language being rendered."""
        return str(_HEADINGS.get(self.status, _HEADINGS["succeeded"]))

    @property
    def says_paid_by(self) -> bool:
        """Whether the instrument is shown as what paid (not on a declined or refunded one)."""
        return self.status in _PAID_BY

    @property
    def refunded_minor(self) -> int:
        return sum(charge.refunded_minor for charge in self.charges)

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

    def for_public_payer(self) -> Receipt:
        """This receipt as a payer on the firm's public pay page may see it: the lines they
        paid, by the number they typed, and nothing of the matter behind them (its title and
        number) or of what is still owed on it; the payer need not be the client."""
        return replace(
            self,
            charges=tuple(
                replace(
                    charge,
                    lines=tuple(
                        replace(line, matter_title="", matter_number="", still_owed_minor=None)
                        for line in charge.lines
                    ),
                )
                for charge in self.charges
            ),
        )

    @property
    def paid_minor(self) -> int:
        ok = {"succeeded", "partially_refunded", "refunded", "disputed"}
        return sum(c.amount_minor for c in self.charges if c.status in ok)


#: Payment states in which the money was taken (a public payer's receipt then shows it all).
TAKEN = frozenset({"succeeded", "partially_refunded", "refunded", "disputed"})


def amount_shown_to_payer(payment: Payment, status: str) -> int:
    """What a receipt (page, postMessage, email) tells the payer was paid.

    What was charged, except on the public pay page until the money was taken (declined,
    processing): then what the payer typed, since the charged amount may be an invoice's
    balance (capped) and a stranger probing with a declining card must not learn it.
    """
    if status in TAKEN or payment.payer_typed_minor is None:
        return payment.total_minor
    return payment.payer_typed_minor


def receipt_for(payment: Payment) -> Receipt:
    """Gather everything a receipt shows, in five queries whatever the basket's size."""
    lines = [line for charge in payment.charges for line in charge.allocations]
    invoices = {
        row.id: row
        for row in db.session.execute(
            select(
                Invoice.id,
                Invoice.number,
                (Invoice.balance_due_minor - Invoice.reserved_minor).label("owed"),
            ).where(
                Invoice.id.in_([line.invoice_id for line in lines if line.invoice_id is not None])
            )
        )
    }
    matters = {
        row.id: row
        for row in db.session.execute(
            select(Matter.id, Matter.number, Matter.title).where(
                Matter.id.in_({line.matter_id for line in lines})
            )
        )
    }
    firm = db.session.get(Firm, payment.firm_id)
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

    def receipt_line(line: Allocation) -> ReceiptLine:
        matter = matters[line.matter_id]
        invoice = invoices.get(line.invoice_id) if line.kind is AllocationKind.INVOICE else None
        return ReceiptLine(
            kind=line.kind.value,
            label=matter.number if invoice is None else invoice.number,
            matter_number=matter.number,
            matter_title=matter.title,
            amount_minor=line.amount_minor,
            request_memo=(
                None if line.trust_request_id is None else memos.get(line.trust_request_id, "")
            ),
            still_owed_minor=None if invoice is None else max(int(invoice.owed), 0),
        )

    charges = tuple(
        ReceiptCharge(
            processor_reference=charge.gateway_ref,
            account_name=charge.merchant_account.label,
            account_names=tuple(sorted((charge.merchant_account.labels or {}).items())),
            account_kind=charge.account_kind.value,
            amount_minor=charge.amount_minor,
            status=charge.status.value,
            failure_code=charge.failure_code if charge.status is ChargeStatus.FAILED else None,
            failure_message=(
                charge.failure_message if charge.status is ChargeStatus.FAILED else None
            ),
            lines=tuple(receipt_line(line) for line in charge.allocations),
            refunded_minor=charge.refunded_minor,
        )
        for charge in payment.charges
    )
    email = latest_for(RECEIPT_EMAIL, payment.public_id)
    return Receipt(
        number=payment.number,
        public_id=payment.public_id,
        firm_name=firm.name if firm else "",
        payer_name=payment.payer_name,
        method=payment.method.value,
        instrument=instrument,
        currency=payment.currency,
        total_minor=payment.total_minor,
        created_at=payment.created_at,
        status=payment_status(payment),
        charges=charges,
        zone=firm_zone(firm) if firm else dt.UTC,
        brand_colour=firm.brand_colour if firm else None,
        emailed_to=(
            ", ".join(payment.receipt_to) or None
            if email is not None and email.status is not EmailStatus.FAILED
            else None
        ),
    )


#: The outbox kind of every email about one payment (receipt, ACH outcome), with the
#: payment's public id as its ref: `receipt_for` reads where the receipt went from it.
RECEIPT_EMAIL = "receipt"
#: The outbox kind of the email that says a refund went through.
REFUND_EMAIL = "refund"
