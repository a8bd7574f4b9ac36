"""Make a payment (console), step 4a with saved payers: charge an existing payer's saved
method, or save a new payer's card or bank account and charge it.

Both charge through `firm_charges.charge_plan`, the core `POST /api/v1/payments` uses (the
saved method's tokens, off-session; routing, one charge per merchant account, idempotency,
limits and postings of `checkout.submit_plan`). What differs is only the consent asked for:
the API needs "future payments the firm initiates"; staff on the phone with the payer may
instead take "this payment only" now, recorded with its exact words, the staff user and how
(`staff_phone`). The payment records source "staff", the staff user, and the saved payer's
address as its payer email; the receipt goes only to the addresses typed. Both commit (through
the payers' use cases and submit_plan) and then clear the user's ticks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from portal.audit import services as audit
from portal.billing.models import Client
from portal.db import db
from portal.errors import NotFound, ValidationFailed
from portal.firms.models import MerchantAccount
from portal.gateways.base import Instrument
from portal.payers import services as payers
from portal.payers.models import ConsentHow, ConsentScope, MethodKind
from portal.payments import drafts, firm_charges
from portal.payments.checkout import MethodUnavailable, Origin, Payer, payment_by_key
from portal.payments.models import Payment, PaymentSource, payment_status
from portal.payments.staff_payments import (
    StaffPlan,
    Taker,
    element_account,
    typed_numbers_allowed,
)


class ConsentNeeded(ValidationFailed):
    """The chosen method has no consent that covers this payment, and none was taken now."""


class MethodExpired(ValidationFailed):
    """The chosen card's expiry has passed."""


@dataclass(frozen=True)
class NewPayer:
    """A payer typed by staff, to be kept with the method and the consent read to them."""

    name: str
    email: str | None
    kind: MethodKind
    instrument: Instrument
    scope: ConsentScope
    words: str


def _origin(firm_id: int, staged: StaffPlan, ar_note: str | None, taker: Taker) -> Origin:
    return Origin(
        firm_id=firm_id,
        client_id=staged.client_id,
        link_id=None,
        ar_note=ar_note,
        source=PaymentSource.STAFF,
        staff_user_id=taker.staff_user_id,
    )


def _payer(name: str, email: str | None, receipts: Sequence[str], taker: Taker) -> Payer:
    """The saved payer's own address is the payment's payer email; the receipts go only to
    the addresses typed (portal.payments.models.Payment.receipt_emails)."""
    return Payer(
        name=name,
        email=email,
        receipts=tuple(receipts),
        ip=taker.ip,
        user_agent=taker.user_agent,
        locale=taker.locale,
    )


def take_with_saved_method(
    *,
    firm_id: int,
    staged: StaffPlan,
    payer_id: str,
    method_id: str,
    phone_consent: str | None,
    receipts: Sequence[str],
    ar_note: str | None,
    idempotency_key: str,
    taker: Taker,
    today: dt.date,
) -> Payment:
    """Charge a saved method of one of this client's payers (commits).

    NotFound for a payer or method that may not pay for this client (another client's or
    firm's); ValidationFailed for an expired card; ConsentNeeded when the method was kept for
    "this payment only" and `phone_consent` (the words read to the payer now) is None.
    The same key returns the first payment and charges nothing.
    """
    if (existing := payment_by_key(firm_id, idempotency_key)) is not None:
        return existing
    who = payers.payer_for_client(firm_id, staged.client_id, payer_id)
    method = payers.method_for_client(firm_id, staged.client_id, method_id, payer=who)
    last = payers.last_valid_day(method)
    if last is not None and last < today:
        raise MethodExpired(
            "This card has expired.",
            errors=[{"field": "payer_choice", "detail": "This card has expired."}],
        )
    consent = payers.covering_consent(method, ConsentScope.FUTURE_FIRM_INITIATED)
    if consent is None:
        if not phone_consent:
            raise ConsentNeeded(
                "The payer's consent to this payment is needed.",
                errors=[{"field": "phone_consent", "detail": "consent"}],
            )
        consent = payers.record_consent(
            method,
            payers.ConsentGiven(
                words=phone_consent,
                how=ConsentHow.STAFF_PHONE,
                scope=ConsentScope.THIS_PAYMENT,
                staff_user_id=taker.staff_user_id,
            ),
        )
    payment = firm_charges.charge_plan(
        _origin(firm_id, staged, ar_note, taker),
        staged.plan,
        method=method,
        consent=consent,
        idempotency_key=idempotency_key,
        payer=_payer(who.name, who.email, receipts, taker),
    )
    firm_charges.authentication_link(payment)
    drafts.clear_selection(taker.staff_user_id, firm_id)
    return payment


def _element_home(firm_id: int, staged: StaffPlan, new: NewPayer) -> MerchantAccount | None:
    """The account whose Stripe key made the new payer's PaymentMethod (Payment Element), or
    None for numbers typed for the sandbox. MethodUnavailable for a PaymentMethod that no
    account of this plan can have made (nothing is kept)."""
    instrument = new.instrument
    if not instrument.payment_method_id:
        return None
    home = element_account(firm_id, staged)
    typed = instrument.card_number or instrument.account_number
    if home is None or new.kind is not MethodKind.CARD or typed:
        raise MethodUnavailable(
            "Staff keep a card on Stripe accounts through the Payment Element, for a payment "
            "to one Stripe account."
        )
    return home


def take_and_save(
    *,
    firm_id: int,
    staged: StaffPlan,
    new: NewPayer,
    receipts: Sequence[str],
    ar_note: str | None,
    idempotency_key: str,
    taker: Taker,
) -> Payment:
    """Keep a new payer of this client with the card or bank account typed and the consent
    read to them, then charge it as a saved method (commits). A declined method is not kept.

    Typed numbers go only to the sandbox (MethodUnavailable otherwise, nothing kept). On
    Stripe the card is the PaymentMethod Stripe's Payment Element made with the key of
    `staff_payments.element_account`: it is kept only at the accounts of that Stripe account
    (payers.save_method's `home`) and charged as a mail/telephone order, the payer on the
    phone. The processor refusing to keep the method raises payers.MethodNotSaved. The same
    key returns the first payment, and the same payer typed again is the same payer.
    """
    if (existing := payment_by_key(firm_id, idempotency_key)) is not None:
        return existing
    home = _element_home(firm_id, staged, new)
    if home is None and not typed_numbers_allowed(firm_id, staged, every_account=True):
        raise MethodUnavailable("Staff can keep typed methods on sandbox accounts only.")
    client = db.session.get(Client, staged.client_id)
    if client is None or client.firm_id != firm_id:  # a plan is built from the firm's rows
        raise NotFound("no such client")
    who = payers.payer_once(firm_id=firm_id, client=client, name=new.name, email=new.email)
    method = payers.save_method(
        payer=who,
        kind=new.kind,
        instrument=new.instrument,
        currency=staged.plan.currency,
        consent=payers.ConsentGiven(
            words=new.words,
            how=ConsentHow.STAFF_PHONE,
            scope=new.scope,
            staff_user_id=taker.staff_user_id,
        ),
        home=home,
    )
    consent = method.consent
    if consent is None:  # save_method keeps the consent with the method
        raise RuntimeError("a saved method without its consent")
    payment = firm_charges.charge_plan(
        _origin(firm_id, staged, ar_note, taker),
        staged.plan,
        method=method,
        consent=consent,
        idempotency_key=idempotency_key,
        payer=_payer(who.name, who.email, receipts, taker),
        by_phone=home is not None,
    )
    if payment_status(payment) == "failed":  # declined: not kept
        with suppress(NotFound):  # unless the same card saved at once replaced it already
            payers.remove_method(
                firm_id,
                client.id,
                method.public_id,
                actor=audit.SYSTEM,
                reason=payers.DECLINED_FIRST,
            )
    firm_charges.authentication_link(payment)
    drafts.clear_selection(taker.staff_user_id, firm_id)
    return payment
