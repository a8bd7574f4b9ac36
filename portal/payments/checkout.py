"""Checkout: what a link may pay, and taking a payer's submission through to the gateway.

Commits: `start_payment` (client links) and `submit_plan` (where it and the public pay page
end) are the use cases and own the transaction. `submit_plan` records the submission
(idempotent on the form's key), holds the invoices' balances against a second payment in
another tab, and commits before any money moves; then, for each charge, it calls the gateway
with no transaction open, records the answer (and the events the gateway handed back) and
commits again: if we crash after the charge, the committed rows let the processor's events
find it. Everything else here reads, or writes inside that transaction without committing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.billing import balances
from portal.billing.models import Invoice, InvoiceStatus, Matter
from portal.db import db
from portal.errors import NotFound, PortalError, ValidationFailed, ValidationProblem
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.firms.services import account_label, firm_by_id
from portal.gateways.base import Instrument
from portal.ids import new_public_id
from portal.links import lines as link_lines
from portal.links import services as links
from portal.links.models import Link
from portal.payments import allocation, charging, receipt_emails
from portal.payments.attempts import check_attempt_limits
from portal.payments.models import (
    Allocation,
    Charge,
    ChargeEvent,
    ChargeStatus,
    Payment,
    PaymentFlag,
    PaymentMethod,
    PaymentSource,
)
from portal.trust_requests import holds as trust_requests

log = logging.getLogger(__name__)
S = ChargeStatus


class MethodUnavailable(PortalError):
    status = 422
    code = "method-unavailable"
    title = "This payment method is not available"


@dataclass(frozen=True)
class Payer:
    """Who is paying and from where (for the ACH mandate and the attempt limits)."""

    name: str
    email: str | None
    ip: str
    user_agent: str
    #: The locale of the page they paid on: their receipt emails follow it.
    locale: str | None = None
    #: The receipt addresses staff typed (none: no receipt); None sends it to `email`.
    receipts: tuple[str, ...] | None = None


#: Payment numbers drawn before giving up: even in a firm with a million payments, two
#: collisions in a row come about once in 4*10**11 payments (portal.payments.numbers), so a
#: third means something else is wrong.
NUMBER_DRAWS = 3


def _public_id() -> str:
    return new_public_id(12)


# -- what a link may pay ---------------------------------------------------------------------


def select_payable_invoices(
    firm_id: int, *where: ColumnElement[bool]
) -> Select[int, int, str, dt.date, dt.date | None, str, int]:
    """The firm's open invoices with something left to pay once in-flight charges are held,
    narrowed by `where`; each row is an allocation.PayableInvoice's fields in order."""
    payable = Invoice.balance_due_minor - Invoice.reserved_minor
    return select(
        Invoice.id,
        Invoice.matter_id,
        Invoice.number,
        Invoice.issued_on,
        Invoice.due_on,
        Invoice.currency,
        payable,
    ).where(
        Invoice.firm_id == firm_id,
        *where,
        Invoice.status == InvoiceStatus.OPEN,
        payable > 0,
    )


def payable_invoices(link: Link) -> list[allocation.PayableInvoice]:
    """Open invoices the link may pay, with what is left once in-flight charges are held."""
    matter_ids = links.visible_matter_ids(link)
    where = [Invoice.matter_id.in_(matter_ids)]
    if carried := link_lines.carried_lines(link):
        where.append(Invoice.id.in_(list(carried.invoices)))
    rows = db.session.execute(select_payable_invoices(link.firm_id, *where)).all()
    invoices = [allocation.PayableInvoice(*row) for row in rows]
    return allocation.in_apply_order(invoices, firm_rules(link.firm_id).order)


def trust_matters(link: Link) -> dict[int, str]:
    """The matters this link may deposit into trust for, with their currency (for a link
    that carries lines, only its deposit lines' matters)."""
    matter_ids = links.visible_matter_ids(link)
    if carried := link_lines.carried_lines(link):
        matter_ids = [m for m in matter_ids if m in carried.deposits]
    return dict(
        db.session.execute(
            select(Matter.id, Matter.currency).where(
                Matter.firm_id == link.firm_id, Matter.id.in_(matter_ids)
            )
        ).all()
    )


def payable_requests(link: Link) -> dict[int, allocation.PayableRequest]:
    """The open trust requests this link may pay, by id, with what is left on each (none for a
    link that carries lines: it pays those)."""
    if link_lines.carried_lines(link):
        return {}
    return {
        request.id: allocation.PayableRequest(
            id=request.id,
            matter_id=request.matter_id,
            currency=request.currency,
            payable_minor=request.payable_minor,
        )
        for request in trust_requests.payable_for_link(link)
        if request.payable_minor > 0
    }


def firm_rules(firm_id: int) -> allocation.Rules:
    """The firm's payment rules: partial payments and the minimum from the portal's settings,
    the auto-apply order from the firm's own (`auto_apply_order`)."""
    return allocation.Rules(
        allow_partial=bool(current_app.config["PAYMENTS_ALLOW_PARTIAL"]),
        minimum_minor=int(current_app.config["PAYMENTS_MINIMUM_MINOR"]),
        order=firm_by_id(firm_id).auto_apply_order,
    )


def merchant_account(firm_id: int, kind: MerchantAccountKind, currency: str) -> MerchantAccount:
    account = db.session.scalar(
        select(MerchantAccount).where(
            MerchantAccount.firm_id == firm_id,
            MerchantAccount.kind == kind,
            MerchantAccount.currency == currency,
        )
    )
    if account is None:
        raise MethodUnavailable(
            f"Payments in {currency} cannot be taken here."
            if kind is MerchantAccountKind.OPERATING
            else f"Trust deposits in {currency} cannot be taken here."
        )
    return account


# -- reading a payment ----------------------------------------------------------------------


def payment_for_link(link: Link, public_id: str) -> Payment:
    """A payment made through this link's client, if the link may see it.

    A link scoped to some matters sees only payments whose every allocation is in its scope
    (and the payments made through it): a receipt names invoices and matters, so one matter's
    link must not open the receipts of the same client's other matters.
    """
    payment = db.session.scalar(
        select(Payment).where(
            and_(
                Payment.public_id == public_id,
                Payment.firm_id == link.firm_id,
                Payment.client_id == link.client_id,
            )
        )
    )
    if payment is None or (payment.link_id != link.id and not _in_scope(link, payment)):
        raise NotFound("no such payment")
    return payment


def _in_scope(link: Link, payment: Payment) -> bool:
    matter_ids = {
        matter_id
        for (matter_id,) in db.session.execute(
            select(Allocation.matter_id)
            .join(Charge, Charge.id == Allocation.charge_id)
            .where(Charge.payment_id == payment.id)
        )
    }
    return bool(matter_ids) and matter_ids <= set(links.visible_matter_ids(link))


# -- starting a payment ----------------------------------------------------------------------


def payment_by_key(firm_id: int, idempotency_key: str) -> Payment | None:
    return db.session.scalar(
        select(Payment).where(
            Payment.firm_id == firm_id, Payment.idempotency_key == idempotency_key
        )
    )


def start_payment(
    *,
    link: Link,
    basket: allocation.Basket,
    method: PaymentMethod,
    instrument: Instrument,
    idempotency_key: str,
    payer: Payer,
    mandate_text: str | None = None,
) -> Payment:
    """Record the payer's submission, then ask the gateway for each charge.

    Calling this again with the same key returns the first payment and charges nothing.
    """
    if not idempotency_key or len(idempotency_key) > 100:
        # Only a tampered page sends none: the review page always carries one.
        raise ValidationFailed(
            "Please review your payment again.",
            errors=[
                ValidationProblem("review_again", "basket", "Please review your payment again.")
            ],
        )
    if (existing := payment_by_key(link.firm_id, idempotency_key)) is not None:
        return existing
    check_attempt_limits(link.id, payer.ip)
    if method is PaymentMethod.ACH and not mandate_text:
        raise ValidationFailed(
            "Accept the bank debit authorization to pay by bank account.",
            errors=[
                ValidationProblem(
                    "mandate_missing", "mandate", "Accept the authorization to continue."
                )
            ],
        )
    invoices = {invoice.id: invoice for invoice in payable_invoices(link)}
    rules = firm_rules(link.firm_id)
    plan = allocation.plan(
        basket,
        invoices=invoices,
        trust_matters=trust_matters(link),
        rules=rules,
        requests=payable_requests(link) if basket.trust_requests else {},
    )
    if carried := link_lines.carried_lines(link):
        allocation.check_carried(
            basket,
            invoices=carried.invoices,
            deposits=carried.deposits,
            rules=rules,
            currency=plan.currency,
        )
    return submit_plan(
        Origin(
            firm_id=link.firm_id, client_id=link.client_id, link_id=link.id, ar_note=link.ar_note
        ),
        plan,
        method=method,
        instrument=instrument,
        idempotency_key=idempotency_key,
        payer=payer,
        mandate_text=mandate_text,
    )


@dataclass(frozen=True)
class Origin:
    """Whose payment it is: the firm, the client when known, the link it came through."""

    firm_id: int
    client_id: int | None
    link_id: int | None
    #: What an anonymous payer typed as the reference on the firm's public pay page.
    payer_reference: str | None = None
    #: What that payer typed as the amount (the plan may charge less: capped at a balance).
    payer_typed_minor: int | None = None
    #: The firm's A/R note set on the link, for the payment's postings (never shown to payers).
    ar_note: str | None = None
    #: Where it was started; None says "link" with a link and "pay_button" without one.
    source: PaymentSource | None = None
    #: The staff user who took it in the console (source "staff").
    staff_user_id: int | None = None

    @property
    def payment_source(self) -> PaymentSource:
        """What the payment records as its `source`."""
        if self.source is not None:
            return self.source
        return PaymentSource.LINK if self.link_id is not None else PaymentSource.PAY_BUTTON


def submit_plan(
    origin: Origin,
    plan: allocation.Plan,
    *,
    method: PaymentMethod,
    instrument: Instrument,
    idempotency_key: str,
    payer: Payer,
    mandate_text: str | None = None,
    flags: Sequence[tuple[str, str]] = (),
) -> Payment:
    """Record a checked plan as one payment, commit, then charge each part at the gateway.

    `start_payment` (client links) and the public pay page both end here; `flags` are
    (code, detail) marks recorded on the payment for the firm, e.g. "unmatched".
    The same idempotency key returns the first payment and charges nothing.
    """
    if (existing := payment_by_key(origin.firm_id, idempotency_key)) is not None:
        return existing
    if method is PaymentMethod.ACH and not mandate_text:
        raise ValidationFailed(
            "Accept the bank debit authorization to pay by bank account.",
            errors=[{"field": "mandate", "detail": "Accept the authorization to continue."}],
        )
    accounts = {
        charge.account_kind: merchant_account(origin.firm_id, charge.account_kind, plan.currency)
        for charge in plan.charges
    }
    for account in accounts.values():
        enabled = account.accepts_card if method is PaymentMethod.CARD else account.accepts_ach
        if not enabled:
            raise MethodUnavailable(
                f"{account_label(account)} does not take card payments."
                if method is PaymentMethod.CARD
                else f"{account_label(account)} does not take bank payments."
            )

    for attempt in range(NUMBER_DRAWS):
        try:
            with db.session.begin_nested():  # a lost race rolls back only this savepoint
                payment = _record_submission(
                    origin, plan, accounts, method, idempotency_key, payer, mandate_text
                )
                for code, detail in flags:
                    payment.flags.append(
                        PaymentFlag(
                            firm_id=origin.firm_id,
                            code=code,
                            detail=detail,
                            created_at=clock.now(),
                        )
                    )
                db.session.flush()
            break
        except IntegrityError:
            # The same key arrived twice at once (double click, two tabs): the other one won.
            existing = payment_by_key(origin.firm_id, idempotency_key)
            if existing is not None:
                return existing
            # Otherwise the payment number drawn was the firm's already: draw again.
            if attempt == NUMBER_DRAWS - 1:
                raise
    db.session.commit()  # our record exists before any money moves
    # Staff type the receipt addresses: our receipt goes there, the processor sends none.
    email = None if origin.payment_source is PaymentSource.STAFF else payer.email
    card = charging.shared_card(payment, instrument, name=payer.name, email=email, ip=payer.ip)
    db.session.commit()  # a card that could not be attached failed the charges: none is sent
    for charge in (c for c in payment.charges if c.status is S.CREATED):
        request = charging.charge_request(
            charge, card, email=email, ip=payer.ip, user_agent=payer.user_agent
        )
        try:
            result = charging.ask_gateway(charge, request)
        except Exception:
            # Stays "created" with its reservation, for the processor's events or a fetch to settle.
            db.session.rollback()
            log.exception("gateway call failed for charge %s", charge.public_id)
            continue
        charging.apply_charge_result(charge, result, ip=payer.ip)
        db.session.commit()
    if any(charge.status in (S.SUCCEEDED, S.PROCESSING) for charge in payment.charges):
        receipt_emails.queue_receipt_email(payment, "receipt")
        db.session.commit()
    return payment


def _reserve(invoice_id: int, amount_minor: int) -> None:
    """Hold `amount_minor` of an invoice's balance for the charge being recorded (billing's
    move); refuse the whole submission when another payment got there first."""
    if not balances.reserve(invoice_id, amount_minor):
        raise allocation.AllocationError(
            "An invoice changed while you were paying it.",
            errors=[
                ValidationProblem(
                    "invoice_changed",
                    f"invoice-{invoice_id}",
                    "This invoice was just paid or changed. Please review and try again.",
                )
            ],
        )


def _record_submission(
    origin: Origin,
    plan: allocation.Plan,
    accounts: dict[MerchantAccountKind, MerchantAccount],
    method: PaymentMethod,
    idempotency_key: str,
    payer: Payer,
    mandate_text: str | None,
) -> Payment:
    now = clock.now()
    payment = Payment(
        public_id=_public_id(),
        firm_id=origin.firm_id,
        client_id=origin.client_id,
        link_id=origin.link_id,
        payer_reference=origin.payer_reference,
        payer_typed_minor=origin.payer_typed_minor,
        idempotency_key=idempotency_key,
        source=origin.payment_source,
        method=method,
        currency=plan.currency,
        total_minor=plan.total_minor,
        payer_name=payer.name[:200],
        payer_email=payer.email,
        receipt_emails=None if payer.receipts is None else list(payer.receipts),
        payer_locale=payer.locale,
        ar_note=origin.ar_note,
        staff_user_id=origin.staff_user_id,
        created_at=now,
    )
    if method is PaymentMethod.ACH:
        payment.mandate_accepted_at = now
        payment.mandate_ip = payer.ip[:64]
        payment.mandate_user_agent = payer.user_agent[:400]
        payment.mandate_text = mandate_text
    db.session.add(payment)
    for planned in plan.charges:
        for line in planned.lines:
            if line.trust_request_id is not None:
                trust_requests.hold(line.trust_request_id, line.amount_minor)
    for planned in plan.charges:
        account = accounts[planned.account_kind]
        public_id = _public_id()
        charge = Charge(
            public_id=public_id,
            firm_id=origin.firm_id,
            merchant_account_id=account.id,
            account_kind=planned.account_kind,
            amount_minor=planned.amount_minor,
            currency=plan.currency,
            status=S.CREATED,
            gateway=account.gateway,
            idempotency_key=f"charge-create:{public_id}",
            method=method,
            refunded_minor=0,
            created_at=now,
        )
        payment.charges.append(charge)
        for line in planned.lines:
            charge.allocations.append(
                Allocation(
                    firm_id=origin.firm_id,
                    kind=line.kind,
                    invoice_id=line.invoice_id,
                    matter_id=line.matter_id,
                    trust_request_id=line.trust_request_id,
                    amount_minor=line.amount_minor,
                    refunded_minor=0,
                )
            )
            if line.invoice_id is not None:
                _reserve(line.invoice_id, line.amount_minor)
        charge.events.append(
            ChargeEvent(
                from_status=None,
                to_status=S.CREATED,
                source="portal",
                reason="submitted by payer",
                amount_minor=planned.amount_minor,
                recorded_at=now,
            )
        )
    db.session.flush()
    return payment
