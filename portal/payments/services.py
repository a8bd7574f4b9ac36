"""Taking a payment and recording everything that happens to it afterwards.

`start_payment` records the submission (idempotent on the form's key), holds the invoices'
balances against a second payment in another tab, commits, and only then asks the gateway to
charge: if we crash after the charge, the committed rows let the processor's events find it.
Every later change — the gateway's answer, its signed events, refunds — goes through
`transition`, which allows only the moves in `ALLOWED`, appends a `ChargeEvent`, and applies
the money effects (balances due, the trust ledger) in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, func, select, update
from sqlalchemy.exc import IntegrityError

from portal import clock, gateways
from portal.billing.models import Invoice, InvoiceStatus, Matter
from portal.db import db
from portal.errors import NotFound, PortalError, ValidationFailed
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways.base import ChargeRequest, ChargeResult, GatewayEvent, Instrument
from portal.gateways.models import InboundEvent
from portal.ids import new_public_id
from portal.ledger import services as ledger
from portal.ledger.models import TrustEntry
from portal.links import services as links
from portal.links.models import Link
from portal.payments import allocation, postings, receipts
from portal.payments.models import (
    ALLOWED,
    IN_FLIGHT,
    Allocation,
    AllocationKind,
    Charge,
    ChargeEvent,
    ChargeStatus,
    FailedAttempt,
    Payment,
    PaymentFlag,
    PaymentMethod,
    Refund,
)
from portal.trust_requests import services as trust_requests

log = logging.getLogger(__name__)
S = ChargeStatus


class TooManyAttempts(PortalError):
    status = 429
    code = "too-many-attempts"
    title = "Too many declined attempts"


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


def _public_id() -> str:
    return new_public_id(12)


# -- what a link may pay ---------------------------------------------------------------------


def select_payable_invoices(firm_id: int, *where: ColumnElement[bool]) -> Select[Any]:
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
    rows = db.session.execute(
        select_payable_invoices(link.firm_id, Invoice.matter_id.in_(matter_ids))
    ).all()
    invoices = [allocation.PayableInvoice(*row) for row in rows]
    return sorted(invoices, key=allocation.apply_order)


def trust_matters(link: Link) -> dict[int, str]:
    """The matters this link may deposit into trust for, with their currency."""
    matter_ids = links.visible_matter_ids(link)
    return dict(
        db.session.execute(
            select(Matter.id, Matter.currency).where(
                Matter.firm_id == link.firm_id, Matter.id.in_(matter_ids)
            )
        ).all()
    )


def payable_requests(link: Link) -> dict[int, allocation.PayableRequest]:
    """The open trust requests this link may pay, by id, with what is left on each."""
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
    """The firm's payment rules (firm-level settings arrive with the firm settings issue)."""
    return allocation.Rules(
        allow_partial=bool(current_app.config["PAYMENTS_ALLOW_PARTIAL"]),
        minimum_minor=int(current_app.config["PAYMENTS_MINIMUM_MINOR"]),
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
            _("Payments in %(currency)s cannot be taken here.", currency=currency)
            if kind is MerchantAccountKind.OPERATING
            else _("Trust deposits in %(currency)s cannot be taken here.", currency=currency)
        )
    return account


# -- card-testing defence --------------------------------------------------------------------


def check_attempt_limits(link_id: int | None, ip: str) -> None:
    """Refuse new attempts after too many declines in the last hour, per link and per IP."""
    since = clock.now() - dt.timedelta(hours=1)
    per_link = int(current_app.config["PAYMENT_FAILURES_PER_LINK_PER_HOUR"])
    per_ip = int(current_app.config["PAYMENT_FAILURES_PER_IP_PER_HOUR"])
    if link_id is not None:
        count = (
            db.session.scalar(
                select(func.count(FailedAttempt.id)).where(
                    FailedAttempt.link_id == link_id, FailedAttempt.at >= since
                )
            )
            or 0
        )
        if count >= per_link:
            raise TooManyAttempts(
                _(
                    "Too many declined attempts on this link. Please wait an hour, or contact "
                    "your law firm."
                )
            )
    count = (
        db.session.scalar(
            select(func.count(FailedAttempt.id)).where(
                FailedAttempt.ip == ip, FailedAttempt.at >= since
            )
        )
        or 0
    )
    if count >= per_ip:
        raise TooManyAttempts(_("Too many declined attempts. Please wait an hour and try again."))


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
        raise ValidationFailed(_("Please review your payment again."))
    if (existing := payment_by_key(link.firm_id, idempotency_key)) is not None:
        return existing
    check_attempt_limits(link.id, payer.ip)
    if method is PaymentMethod.ACH and not mandate_text:
        raise ValidationFailed(
            _("Accept the bank debit authorization to pay by bank account."),
            errors=[{"field": "mandate", "detail": _("Accept the authorization to continue.")}],
        )
    invoices = {invoice.id: invoice for invoice in payable_invoices(link)}
    plan = allocation.plan(
        basket,
        invoices=invoices,
        trust_matters=trust_matters(link),
        rules=firm_rules(link.firm_id),
        requests=payable_requests(link) if basket.trust_requests else {},
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
    #: The firm's A/R note set on the link, for the payment's postings (never shown to payers).
    ar_note: str | None = None


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
                _("%(account)s does not take card payments.", account=account.label)
                if method is PaymentMethod.CARD
                else _("%(account)s does not take bank payments.", account=account.label)
            )

    try:
        with db.session.begin_nested():  # a lost race rolls back only this savepoint
            payment = _record_submission(
                origin, plan, accounts, method, idempotency_key, payer, mandate_text
            )
            for code, detail in flags:
                payment.flags.append(
                    PaymentFlag(
                        firm_id=origin.firm_id, code=code, detail=detail, created_at=clock.now()
                    )
                )
            db.session.flush()
    except IntegrityError:
        # The same key arrived twice at once (double click, two tabs): the other one won.
        existing = payment_by_key(origin.firm_id, idempotency_key)
        if existing is None:
            raise
        return existing
    db.session.commit()

    for charge in payment.charges:
        _charge_at_gateway(charge, instrument, payer)
    if any(charge.status in (S.SUCCEEDED, S.PROCESSING) for charge in payment.charges):
        receipts.queue_receipt_email(payment, "receipt")
        db.session.commit()
    return payment


def _reserve(invoice_id: int, amount_minor: int) -> None:
    """Hold `amount_minor` of an invoice's balance for a charge in flight, atomically.

    One conditional UPDATE: on PostgreSQL a racing transaction waits for the row and then
    re-checks the condition; on SQLite writers are serialised by BEGIN IMMEDIATE. Either way
    two tabs can never hold more than the balance due between them.
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
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise allocation.AllocationError(
            _("An invoice changed while you were paying it."),
            errors=[
                {
                    "field": f"invoice-{invoice_id}",
                    "detail": _(
                        "This invoice was just paid or changed. Please review and try again."
                    ),
                }
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
        idempotency_key=idempotency_key,
        method=method,
        currency=plan.currency,
        total_minor=plan.total_minor,
        payer_name=payer.name[:200],
        payer_email=payer.email,
        ar_note=origin.ar_note,
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


def _charge_at_gateway(charge: Charge, instrument: Instrument, payer: Payer) -> None:
    account = charge.merchant_account
    request = ChargeRequest(
        charge_ref=charge.public_id,
        merchant_account_id=account.id,
        amount_minor=charge.amount_minor,
        currency=charge.currency,
        method=charge.method.value,
        instrument=instrument,
        description=f"{account.label} payment {charge.payment.public_id}",
        payer_email=payer.email,
        metadata={
            "charge": charge.public_id,
            "payment": charge.payment.public_id,
            "firm": str(charge.firm_id),
            "account_kind": charge.account_kind.value,
        },
        mandate_ip=payer.ip,
        mandate_user_agent=payer.user_agent,
    )
    try:
        result = gateways.for_account(account).charge(
            request, idempotency_key=charge.idempotency_key
        )
    except Exception:
        # The charge stays "created" with its reservation: the processor's events, or a
        # later fetch with the same idempotency key, settle it one way or the other.
        db.session.rollback()
        log.exception("gateway call failed for charge %s", charge.public_id)
        return
    record_charge_result(charge, result, ip=payer.ip)
    db.session.commit()


def record_charge_result(charge: Charge, result: ChargeResult, *, ip: str | None = None) -> None:
    """Apply the processor's direct answer to a create/confirm or fetch call (not committed)."""
    db.session.refresh(charge)
    if charge.gateway_ref is None:
        charge.gateway_ref = result.gateway_ref
    _remember_instrument(charge, result.brand, result.last4, result.fee_minor)
    if result.status is S.FAILED:
        charge.failure_code = result.failure_code
        charge.failure_message = result.failure_message
    transition(
        charge,
        result.status,
        source="gateway",
        source_ref=result.gateway_ref,
        reason=result.failure_message or f"processor answered {result.status.value}",
    )
    # Counted whether the answer or the processor's event recorded the failure first.
    if result.status is S.FAILED and ip is not None:
        db.session.add(
            FailedAttempt(
                link_id=charge.payment.link_id,
                ip=ip[:64],
                at=clock.now(),
                code=result.failure_code or "declined",
            )
        )


def _remember_instrument(
    charge: Charge, brand: str | None, last4: str | None, fee_minor: int | None
) -> None:
    if brand and not charge.instrument_brand:
        charge.instrument_brand = brand[:40]
    if last4 and not charge.instrument_last4:
        charge.instrument_last4 = last4[-4:]
    if fee_minor is not None and charge.fee_minor is None:
        charge.fee_minor = fee_minor


# -- the transition table and its money effects ----------------------------------------------


def transition(
    charge: Charge,
    to: ChargeStatus,
    *,
    source: str,
    source_ref: str | None = None,
    reason: str = "",
    amount_minor: int | None = None,
) -> bool:
    """Move `charge` to `to` if the table allows it, record why, and apply the money effects.

    Returns False, changing nothing, for a move the table does not allow: processors deliver
    out of order (a "processing" after "succeeded"), and such news is stale, not an error.
    """
    before = charge.status
    if to is before and to is not S.PARTIALLY_REFUNDED:
        return False
    if to not in ALLOWED[before]:
        return False
    charge.status = to
    charge.events.append(
        ChargeEvent(
            from_status=before,
            to_status=to,
            source=source,
            source_ref=source_ref,
            reason=reason[:300],
            amount_minor=amount_minor,
            recorded_at=clock.now(),
        )
    )
    if to is S.SUCCEEDED:
        _settle(charge, redeposit=before is S.DISPUTED)
        if charge.payment.link_id is not None:
            links.mark_paid(charge.payment.link_id)
    elif to in (S.FAILED, S.CANCELED):
        _release(charge)
    elif to in (S.RETURNED, S.DISPUTED):
        _reverse(charge, why="ACH return" if to is S.RETURNED else "dispute")
    db.session.flush()
    # The posting is written in this same transaction: the back office can never miss a
    # change, nor hear of one that was rolled back.
    postings.enqueue_for_transition(
        charge,
        before=before,
        to=to,
        source_ref=source_ref,
        reason=reason,
        amount_minor=amount_minor,
    )
    # A trust request paid through this charge follows it: paid, partly paid or open again.
    trust_requests.recompute_for_charge(charge)
    if before is S.PROCESSING and to in (S.SUCCEEDED, S.FAILED):
        _tell_payer_when_settled(charge.payment)
    return True


def _tell_payer_when_settled(payment: Payment) -> None:
    """Once no charge of a bank payment is still processing, email how it ended."""
    if any(charge.status in IN_FLIGHT for charge in payment.charges):
        return
    failed = any(charge.status is S.FAILED for charge in payment.charges)
    receipts.queue_receipt_email(payment, "failed" if failed else "settled")


def _settle(charge: Charge, *, redeposit: bool) -> None:
    """Money arrived: lower balances due, append trust deposits (re-deposit after a won dispute)."""
    now = clock.now()
    charge.succeeded_at = charge.succeeded_at or now
    charge.settled_on = charge.settled_on or clock.today()
    for line in charge.allocations:
        amount = line.amount_minor - line.refunded_minor
        if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
            _pay_invoice(line, amount, released_minor=0 if redeposit else line.amount_minor)
        elif amount > 0:
            _append_trust(
                charge,
                line.matter_id,
                amount,
                "Deposit restored: dispute won" if redeposit else "Portal deposit",
            )


def _locked_invoice(invoice_id: int) -> Invoice:
    """Load an invoice fresh, locked for this transaction (FOR UPDATE on PostgreSQL)."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    if invoice is None:  # allocations keep their invoice through a foreign key
        raise LookupError(f"invoice {invoice_id} vanished")
    return invoice


def _pay_invoice(line: Allocation, amount_minor: int, *, released_minor: int) -> None:
    invoice = _locked_invoice(line.invoice_id or 0)
    # Read the acknowledgement only under the invoice's lock: a sync acknowledging this
    # payment at the same moment must not see the balance lowered twice. A balance the back
    # office already sent net of this payment is not lowered again.
    db.session.refresh(line, ["acknowledged_at"])
    lowered = 0 if line.acknowledged_at is not None else amount_minor
    invoice.reserved_minor = max(invoice.reserved_minor - released_minor, 0)
    invoice.balance_due_minor = max(invoice.balance_due_minor - lowered, 0)
    if invoice.balance_due_minor == 0 and invoice.status is InvoiceStatus.OPEN:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = clock.now()
    invoice.updated_at = clock.now()


def _release(charge: Charge) -> None:
    """The charge failed or was canceled: give back the invoices' held balances."""
    for line in charge.allocations:
        if line.invoice_id is not None:
            invoice = _locked_invoice(line.invoice_id)
            invoice.reserved_minor = max(invoice.reserved_minor - line.amount_minor, 0)


def _reverse(charge: Charge, *, why: str) -> None:
    """Money went back out (return or dispute): reopen invoices, append trust reversals."""
    for line in charge.allocations:
        amount = line.amount_minor - line.refunded_minor
        if amount <= 0:
            continue
        if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
            _reopen_invoice(line.invoice_id, amount)
        else:
            _append_trust(charge, line.matter_id, -amount, f"Reversal: {why}")


def _reopen_invoice(invoice_id: int, amount_minor: int) -> None:
    invoice = _locked_invoice(invoice_id)
    invoice.balance_due_minor = min(invoice.balance_due_minor + amount_minor, invoice.total_minor)
    if invoice.balance_due_minor > 0 and invoice.status is InvoiceStatus.PAID:
        invoice.status = InvoiceStatus.OPEN
        invoice.paid_at = None
    invoice.updated_at = clock.now()


def trust_balance(matter_id: int) -> int:
    """A matter's trust balance in minor units: its ledger entries that still count."""
    return ledger.trust_balances([matter_id]).get(matter_id, 0)


def _append_trust(charge: Charge, matter_id: int, amount_minor: int, description: str) -> None:
    """Append a portal entry to a matter's trust ledger; flag loudly if it goes below zero."""
    entry = TrustEntry(
        firm_id=charge.firm_id,
        external_id=None,
        matter_id=matter_id,
        posted_on=clock.today(),
        amount_minor=amount_minor,
        currency=charge.currency,
        description=f"{description} ({charge.payment.public_id})",
        source="portal",
        charge_id=charge.id,
        created_at=clock.now(),
    )
    if amount_minor > 0:
        # The back office may have recorded this deposit before the portal did (it echoes the
        # payment on its own entry); then its entry counts and ours is history only.
        entry.superseded_by_id = db.session.scalar(
            select(TrustEntry.id)
            .where(
                TrustEntry.matter_id == matter_id,
                TrustEntry.source == "back_office",
                TrustEntry.charge_id == charge.id,
                TrustEntry.amount_minor > 0,
            )
            .limit(1)
        )
    db.session.add(entry)
    db.session.flush()
    if amount_minor < 0 and (balance := trust_balance(matter_id)) < 0:
        db.session.add(
            PaymentFlag(
                firm_id=charge.firm_id,
                payment_id=charge.payment_id,
                charge_id=charge.id,
                matter_id=matter_id,
                code="trust_below_zero",
                detail=(
                    f"This reversal took the matter's trust balance to {balance} minor units "
                    f"of {charge.currency}. No other matter or client was touched; the firm "
                    "must cover the shortfall from its own funds."
                ),
                created_at=clock.now(),
            )
        )
        postings.enqueue_trust_shortfall(charge, matter_id=matter_id, balance_minor=balance)


# -- processor events ------------------------------------------------------------------------


def receive_gateway_event(merchant_account_id: int, body: bytes, signature: str | None) -> str:
    """Verify, de-duplicate and apply one processor event for a merchant account (commits).

    Raises `portal.gateways.stripe.BadSignature` when the signature does not verify, and
    NotFound for an unknown account. Returns what was done, for the log and the inbox.
    """
    from portal.gateways import stripe as stripe_events

    account = db.session.get(MerchantAccount, merchant_account_id)
    if account is None:
        raise NotFound("no such merchant account")
    raw = stripe_events.verify(body, signature, gateways.webhook_secret(account))
    event = stripe_events.translate(raw)
    try:
        with db.session.begin_nested():
            inbox = InboundEvent(
                gateway=account.gateway,
                event_id=event.event_id,
                merchant_account_id=account.id,
                type=event.type,
                received_at=clock.now(),
            )
            db.session.add(inbox)
            db.session.flush()
    except IntegrityError:
        return "duplicate"
    inbox.outcome = apply_gateway_event(account, event)
    db.session.commit()
    return inbox.outcome


def apply_gateway_event(account: MerchantAccount, event: GatewayEvent) -> str:
    """Record what a verified processor event says about one of this account's charges."""
    conditions = []
    if event.gateway_ref:
        conditions.append(Charge.gateway_ref == event.gateway_ref)
    if event.charge_ref:
        conditions.append(Charge.public_id == event.charge_ref)
    if not conditions:
        return "ignored: names no charge"
    charge = db.session.scalar(
        select(Charge).where(
            Charge.merchant_account_id == account.id,
            conditions[0] if len(conditions) == 1 else (conditions[0] | conditions[1]),
        )
    )
    if charge is None:
        return "ignored: unknown charge"
    if charge.gateway_ref is None and event.gateway_ref:
        charge.gateway_ref = event.gateway_ref
    _remember_instrument(charge, event.brand, event.last4, event.fee_minor)
    if event.status is None:
        return f"recorded: {event.type}"
    if event.status is S.FAILED:
        charge.failure_code = event.failure_code
        charge.failure_message = event.failure_message
    if event.status in (S.REFUNDED, S.PARTIALLY_REFUNDED):
        return _apply_refund_event(charge, event)
    status = event.status
    if status is S.DISPUTED and charge.method is PaymentMethod.ACH:
        # A bank debit that fails after it succeeded reaches Stripe as a dispute; for the
        # ledger it is an ACH return, and final.
        status = S.RETURNED
    changed = transition(
        charge,
        status,
        source="gateway",
        source_ref=event.event_id,
        reason=event.detail or event.failure_message or event.type,
        amount_minor=event.amount_minor,
    )
    return "applied" if changed else f"ignored: {charge.status.value} cannot become {status.value}"


def _apply_refund_event(charge: Charge, event: GatewayEvent) -> str:
    refunded = int(event.amount_minor or 0)
    if refunded > charge.refunded_minor:
        # Refunded at the processor without going through the portal: we cannot tell which
        # invoice or matter it came from, so the firm must be told rather than guessed for.
        db.session.add(
            PaymentFlag(
                firm_id=charge.firm_id,
                payment_id=charge.payment_id,
                charge_id=charge.id,
                code="refund_outside_portal",
                detail=f"The processor reports {refunded} refunded; the portal recorded "
                f"{charge.refunded_minor}. Apply the difference in the back office.",
                created_at=clock.now(),
            )
        )
        return "flagged: refund outside portal"
    return "applied: refund confirmed"


# -- refunds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundLine:
    allocation_id: int
    amount_minor: int


def refund_payment(
    *,
    firm_id: int,
    payment_public_id: str,
    lines: Sequence[RefundLine] | None,
    idempotency_key: str,
    reason: str = "",
) -> list[Refund]:
    """Refund allocations of a payment (all of what is left when `lines` is None). Commits.

    A trust refund is capped at the matter's trust balance: a refund never takes another
    matter's or client's money. The same idempotency key returns the first refunds.
    """
    existing = list(
        db.session.scalars(
            select(Refund)
            .where(
                Refund.firm_id == firm_id,
                Refund.idempotency_key.startswith(f"{idempotency_key}#", autoescape=True),
            )
            .order_by(Refund.id)
        )
    )
    if existing:
        return existing
    payment = db.session.scalar(
        select(Payment).where(Payment.firm_id == firm_id, Payment.public_id == payment_public_id)
    )
    if payment is None:
        raise NotFound("no such payment")
    by_id = {line.id: (charge, line) for charge in payment.charges for line in charge.allocations}
    wanted = lines or [
        RefundLine(line.id, line.amount_minor - line.refunded_minor)
        for charge in payment.charges
        for line in charge.allocations
        if line.amount_minor > line.refunded_minor
    ]
    errors = []
    for n, item in enumerate(wanted):
        found = by_id.get(item.allocation_id)
        if found is None:
            errors.append(
                {
                    "pointer": f"/allocations/{n}/allocation",
                    "detail": "not an allocation of this payment",
                }
            )
            continue
        charge, line = found
        if charge.status not in (S.SUCCEEDED, S.PARTIALLY_REFUNDED):
            errors.append(
                {
                    "pointer": f"/allocations/{n}",
                    "detail": f"the charge is {charge.status.value}; "
                    "only paid charges can be refunded",
                }
            )
        elif not 0 < item.amount_minor <= line.amount_minor - line.refunded_minor:
            errors.append(
                {
                    "pointer": f"/allocations/{n}/amount",
                    "detail": "must be above zero and at most what is left to refund "
                    "on this allocation",
                }
            )
        elif line.kind is AllocationKind.TRUST_DEPOSIT and item.amount_minor > trust_balance(
            line.matter_id
        ):
            errors.append(
                {
                    "pointer": f"/allocations/{n}/amount",
                    "detail": "more than the matter's trust balance; "
                    "a trust refund cannot take other clients' money",
                }
            )
    if errors or not wanted:
        summary = "; ".join(e["detail"] for e in errors) or "nothing is left to refund"
        raise ValidationFailed(summary, errors=errors)

    refunds = []
    try:
        with db.session.begin_nested():
            for n, item in enumerate(wanted):
                charge, line = by_id[item.allocation_id]
                refund = Refund(
                    public_id=_public_id(),
                    firm_id=firm_id,
                    charge_id=charge.id,
                    allocation_id=line.id,
                    amount_minor=item.amount_minor,
                    idempotency_key=f"{idempotency_key}#{n}",
                    reason=reason[:300],
                    created_at=clock.now(),
                )
                db.session.add(refund)
                refunds.append(refund)
    except IntegrityError:
        # The same request arrived twice at once; the other one recorded the refunds.
        return refund_payment(
            firm_id=firm_id,
            payment_public_id=payment_public_id,
            lines=lines,
            idempotency_key=idempotency_key,
            reason=reason,
        )
    db.session.commit()  # the keys are on record before the processor hears of them

    for refund in refunds:
        charge, line = by_id[refund.allocation_id]
        result = gateways.for_account(charge.merchant_account).refund(
            charge.gateway_ref or "",
            refund.amount_minor,
            idempotency_key=f"refund:{refund.public_id}",
        )
        refund.gateway_ref, refund.status = result.gateway_ref or None, result.status
        if result.status != "succeeded":
            db.session.commit()
            continue
        db.session.refresh(charge)
        line.refunded_minor += refund.amount_minor
        charge.refunded_minor += refund.amount_minor
        full = charge.refunded_minor == charge.amount_minor
        transition(
            charge,
            S.REFUNDED if full else S.PARTIALLY_REFUNDED,
            source="api",
            source_ref=refund.public_id,
            reason=reason or "refund",
            amount_minor=refund.amount_minor,
        )
        if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
            _reopen_invoice(line.invoice_id, refund.amount_minor)
        else:
            _append_trust(charge, line.matter_id, -refund.amount_minor, "Refund")
        db.session.commit()
    return refunds


# -- reading payments ------------------------------------------------------------------------


def payment_for_link(link: Link, public_id: str) -> Payment:
    """A payment made through this link's client, if the link may see it."""
    payment = db.session.scalar(
        select(Payment).where(
            and_(
                Payment.public_id == public_id,
                Payment.firm_id == link.firm_id,
                Payment.client_id == link.client_id,
            )
        )
    )
    if payment is None:
        raise NotFound("no such payment")
    return payment


def payment_status(payment: Payment) -> str:
    """One word for the whole payment, from its charges' states."""
    statuses = {charge.status for charge in payment.charges}
    if statuses & IN_FLIGHT:
        return "processing" if S.PROCESSING in statuses else "created"
    if statuses <= {S.FAILED, S.CANCELED}:
        return "failed"
    if statuses & {S.FAILED, S.CANCELED}:
        return "partially_failed"
    if len(statuses) == 1:
        return next(iter(statuses)).value
    return "succeeded"
