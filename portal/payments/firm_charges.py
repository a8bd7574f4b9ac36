"""Charges the firm starts with a payer's saved method, the payer away (off-session).

The API's `POST /api/v1/payments` and the console's manual entry with a saved method call
`charge_saved_method`. The lines are checked as a client's would be (`allocation.plan` over the
client's open invoices and matters: nothing over what is due, trust only into trust) and paid
through `checkout.submit_plan`, so routing, one charge per merchant account, idempotency, limits,
postings and receipts are those of a client's payment. Only a method kept with consent for
"future payments the firm starts" may be charged this way.

When the payer's bank asks the payer to confirm (3-D Secure) a charge made without them, the
charge fails cleanly (nothing is charged) and the client is emailed a new link to pay it
themself.

Commits: `charge_saved_method` (through `submit_plan`, and once more for the link email).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from flask_babel import force_locale, gettext
from sqlalchemy import select

from portal import i18n
from portal.billing.models import Client, Invoice, Matter
from portal.billing.services import client_by_external_id
from portal.db import db
from portal.errors import Conflict, PortalError, ValidationFailed
from portal.firms.models import MerchantAccountKind
from portal.links import sending
from portal.links import services as links
from portal.links.lines import LineRequest, attach_lines, check_lines
from portal.links.models import DeliveryOrigin
from portal.payers import services as payers
from portal.payers.models import Consent, ConsentScope, MethodKind, SavedMethod
from portal.payments import allocation
from portal.payments.checkout import (
    MethodUnavailable,
    Origin,
    Payer,
    firm_rules,
    merchant_account,
    payment_by_key,
    select_payable_invoices,
    submit_plan,
)
from portal.payments.models import ChargeStatus, Payment, PaymentMethod, PaymentSource

log = logging.getLogger(__name__)

#: The processor's code for a charge the payer's bank wants the payer to confirm.
AUTHENTICATION_REQUIRED = "authentication_required"


class ConsentMissing(PortalError):
    """The saved method was not kept for payments the firm starts."""

    status = 422
    code = "consent-missing"
    title = "The payer has not agreed to payments the firm starts"


class NotKeptThere(MethodUnavailable):
    """The saved method is not kept at an account this payment goes to (e.g. a card kept at
    the operating account's Stripe account, for a payment with a trust part at another)."""

    code = "method-not-kept-there"

    def __init__(self, kinds: Sequence[MerchantAccountKind]) -> None:
        names = " and ".join(f"the {kind.value} account" for kind in kinds)
        super().__init__(
            f"This payment method is not kept at {names}, which this payment goes to. Take "
            "that part as a separate payment with another method, or send it for payment.",
            errors=[{"pointer": "/payment_method", "detail": "not kept at " + names}],
        )
        self.kinds = tuple(kinds)


class KeyReused(Conflict):
    code = "idempotency-key-reused"
    title = "This Idempotency-Key was used for another payment"


@dataclass(frozen=True)
class ChargeLine:
    """One line as the firm sends it: an invoice and an amount, or a matter and a trust amount."""

    invoice: str | None = None
    amount: int | None = None
    matter: str | None = None
    trust_amount: int | None = None


@dataclass(frozen=True)
class FirmCharge:
    payment: Payment
    #: True when the same key had already made this payment (nothing charged again).
    is_replay: bool
    #: True when the bank asked for the payer and the client was emailed a link.
    link_sent: bool = False


def _basket(
    firm_id: int, client_id: int, lines: Sequence[ChargeLine]
) -> tuple[allocation.Basket, dict[int, allocation.PayableInvoice], dict[int, str]]:
    """The lines as a basket over the client's own open invoices and matters (external ids)."""
    matters = dict(
        db.session.execute(
            select(Matter.id, Matter.currency).where(
                Matter.firm_id == firm_id, Matter.client_id == client_id
            )
        ).all()
    )
    payable = {
        row[0]: allocation.PayableInvoice(*row)
        for row in db.session.execute(
            select_payable_invoices(firm_id, Invoice.matter_id.in_(list(matters) or [-1]))
        ).all()
    }
    errors: list[dict[str, str]] = []
    invoices: dict[int, int] = {}
    deposits: dict[int, int] = {}
    for index, line in enumerate(lines):
        where = f"/lines/{index}"
        if line.invoice is not None and line.amount is not None:
            invoice_id = db.session.scalar(
                select(Invoice.id).where(
                    Invoice.firm_id == firm_id,
                    Invoice.external_id == line.invoice,
                    Invoice.matter_id.in_(list(matters) or [-1]),
                )
            )
            if invoice_id is None:
                errors.append(
                    {"pointer": f"{where}/invoice", "detail": "no such invoice of this client"}
                )
            elif invoice_id in invoices:
                errors.append(
                    {"pointer": f"{where}/invoice", "detail": "this invoice is named twice"}
                )
            else:
                invoices[invoice_id] = line.amount
        elif line.matter is not None and line.trust_amount is not None:
            matter_id = db.session.scalar(
                select(Matter.id).where(
                    Matter.firm_id == firm_id,
                    Matter.external_id == line.matter,
                    Matter.client_id == client_id,
                )
            )
            if matter_id is None:
                errors.append(
                    {"pointer": f"{where}/matter", "detail": "no such matter of this client"}
                )
            elif matter_id in deposits:
                errors.append(
                    {"pointer": f"{where}/matter", "detail": "this matter is named twice"}
                )
            else:
                deposits[matter_id] = line.trust_amount
        else:
            errors.append(
                {
                    "pointer": where,
                    "detail": "a line is {invoice, amount} or {matter, trust_amount}",
                }
            )
    if errors:
        raise ValidationFailed(errors=errors)
    return allocation.Basket(invoices=invoices, trust_deposits=deposits), payable, matters


def _pointed(
    exc: allocation.AllocationError, lines: Sequence[ChargeLine], basket: allocation.Basket
) -> ValidationFailed:
    """The plan's problems (by form field) pointed at the request's lines instead."""
    where: dict[str, str] = {}
    invoice_ids, matter_ids = list(basket.invoices), list(basket.trust_deposits)
    inv_i = dep_i = 0
    for index, line in enumerate(lines):
        if line.invoice is not None:
            where[f"invoice-{invoice_ids[inv_i]}"] = f"/lines/{index}/amount"
            inv_i += 1
        else:
            where[f"trust-{matter_ids[dep_i]}"] = f"/lines/{index}/trust_amount"
            dep_i += 1
    return ValidationFailed(
        errors=[
            {"pointer": where.get(str(e.get("field")), "/lines"), "detail": e["detail"]}
            for e in exc.errors
        ]
    )


def charge_saved_method(
    *,
    firm_id: int,
    client: str,
    payer: str,
    payment_method: str,
    lines: Sequence[ChargeLine],
    idempotency_key: str,
    ip: str = "",
    user_agent: str = "",
    ar_note: str | None = None,
) -> FirmCharge:
    """Charge a saved method for the lines, off-session, once per key (commits).

    NotFound for a client, payer or method that is not the firm's (or a method of a payer who
    does not pay for this client); ConsentMissing without consent for payments the firm
    starts; ValidationFailed for lines that cannot be paid. The same key returns the first
    payment (KeyReused when it was for another client or total).
    """
    owner = client_by_external_id(firm_id, client)
    who = payers.payer_for_client(firm_id, owner.id, payer)
    method = payers.method_for_client(firm_id, owner.id, payment_method, payer=who)
    key = f"api:{idempotency_key}"
    basket, payable, matters = _basket(firm_id, owner.id, lines)
    if (existing := payment_by_key(firm_id, key)) is not None:
        return _replay(existing, owner.id, basket)
    consent = method.consent
    if consent is None or consent.scope is not ConsentScope.FUTURE_FIRM_INITIATED:
        raise ConsentMissing(
            "This payment method was saved without the payer's consent to payments the firm "
            "starts; ask the payer to pay through a link.",
            errors=[
                {"pointer": "/payment_method", "detail": "no consent to firm-initiated payments"}
            ],
        )
    try:
        plan = allocation.plan(
            basket, invoices=payable, trust_matters=matters, rules=firm_rules(firm_id)
        )
    except allocation.AllocationError as exc:
        raise _pointed(exc, lines, basket) from None
    payment = charge_plan(
        Origin(
            firm_id=firm_id,
            client_id=owner.id,
            link_id=None,
            ar_note=ar_note,
            source=PaymentSource.STAFF,
        ),
        plan,
        method=method,
        consent=consent,
        idempotency_key=key,
        payer=Payer(name=who.name, email=who.email, ip=ip, user_agent=user_agent),
    )
    sent = _send_link_if_authentication_asked(payment, owner)
    return FirmCharge(payment=payment, is_replay=False, link_sent=sent)


def charge_plan(
    origin: Origin,
    plan: allocation.Plan,
    *,
    method: SavedMethod,
    consent: Consent,
    idempotency_key: str,
    payer: Payer,
    by_phone: bool = False,
) -> Payment:
    """The one way a saved method is charged for a checked plan, the payer away from any
    page (commits, through `submit_plan`): its tokens, off-session, and for a bank account
    the consent's words as the debit's authorisation. The caller has checked that `consent`
    covers this payment (the API: "future payments"; the console: also "this payment", taken
    by phone now). Routing, one charge per merchant account and idempotency are submit_plan's.

    `by_phone`: the card was just read to staff by the payer on the phone and kept (Save
    payer on Stripe): charged as a mail/telephone order, not off-session. NotKeptThere when
    the method is not kept at every account the plan charges (nothing is recorded).
    """
    if consent.saved_method_id != method.id:
        raise ValueError("the consent is not this method's")
    kept_at = {token.merchant_account_id for token in method.tokens}
    missing = [
        charge.account_kind
        for charge in plan.charges
        if merchant_account(origin.firm_id, charge.account_kind, plan.currency).id not in kept_at
    ]
    if missing:
        raise NotKeptThere(missing)
    card = method.kind is MethodKind.CARD
    # A card just read by phone and kept for payments the firm starts: this first charge
    # sets it up for them (never for "this payment only" consent, see instrument_for).
    instrument = payers.instrument_for(
        method, off_session=not (by_phone and card), setup_future=by_phone and card
    )
    if by_phone and card:
        instrument = replace(instrument, moto=True)
    return submit_plan(
        origin,
        plan,
        method=PaymentMethod.CARD if card else PaymentMethod.ACH,
        instrument=instrument,
        idempotency_key=idempotency_key,
        payer=payer,
        mandate_text=None if card else consent.words,
    )


def authentication_link(payment: Payment) -> bool:
    """After a charge of a saved method: email the client a link when their bank asked for
    them (commits then). True when a link was sent."""
    client = db.session.get(Client, payment.client_id) if payment.client_id else None
    return client is not None and _send_link_if_authentication_asked(payment, client)


def _replay(existing: Payment, client_id: int, basket: allocation.Basket) -> FirmCharge:
    total = sum(basket.invoices.values()) + sum(basket.trust_deposits.values())
    if existing.client_id != client_id or existing.total_minor != total:
        raise KeyReused(
            "This Idempotency-Key was used for another payment; use a new key for a new one."
        )
    return FirmCharge(payment=existing, is_replay=True)


def needs_payer(payment: Payment) -> bool:
    """True when a charge failed because the payer's bank wants the payer to confirm it."""
    return any(
        charge.status is ChargeStatus.FAILED and charge.failure_code == AUTHENTICATION_REQUIRED
        for charge in payment.charges
    )


def _send_link_if_authentication_asked(payment: Payment, client: Client) -> bool:
    """Email the client a link to pay this themself, when their bank asked for them (commits).

    The link carries the allocation that was not charged (`link_lines`, as a link the console
    sends for payment does): the failed charges' lines, each invoice and trust deposit at the
    amount tried, so the pay page opens with exactly those. A line that can no longer be paid
    as it was (the invoice settled meanwhile) leaves a link to the payment's matters instead.
    It goes to the payer's address, else the client's, in the client's language.
    """
    if not needs_payer(payment):
        return False
    to = payment.payer_email or client.email
    if not to:
        return False
    matter_ids = {a.matter_id for c in payment.charges for a in c.allocations}
    scope = list(db.session.scalars(select(Matter).where(Matter.id.in_(matter_ids))))
    requested = _unpaid_lines(payment)
    with force_locale(i18n.page_locale(client.locale)):
        message = gettext(
            "Your bank asked you to confirm a payment we tried to take with your saved card. "
            "Nothing was charged. Please open this link to review the payment and pay it."
        )
    try:
        checked = check_lines(client, requested) if requested else []
    except ValidationFailed as exc:
        log.warning("payment %s: its lines cannot be carried (%s)", payment.public_id, exc.errors)
        checked = []
    with db.transaction():
        link = links.issue_link(firm_id=payment.firm_id, client=client, matters=scope)
        if checked:
            attach_lines(link, checked)
        sending.queue_link_email(link, to=to, message=message, origin=DeliveryOrigin.API)
    return True


def _unpaid_lines(payment: Payment) -> list[LineRequest]:
    """The failed charges' allocations as a link's lines, in the payment's order."""
    unpaid = sorted(
        (a for c in payment.charges if c.status is ChargeStatus.FAILED for a in c.allocations),
        key=lambda a: a.id,
    )
    invoices = dict(
        db.session.execute(
            select(Invoice.id, Invoice.external_id).where(
                Invoice.id.in_([a.invoice_id for a in unpaid if a.invoice_id is not None] or [-1])
            )
        ).all()
    )
    matters = dict(
        db.session.execute(
            select(Matter.id, Matter.external_id).where(
                Matter.id.in_([a.matter_id for a in unpaid] or [-1])
            )
        ).all()
    )
    return [
        LineRequest(index, invoice=invoices[a.invoice_id], amount_minor=a.amount_minor)
        if a.invoice_id is not None
        else LineRequest(index, matter=matters[a.matter_id], trust_amount_minor=a.amount_minor)
        for index, a in enumerate(unpaid)
    ]
