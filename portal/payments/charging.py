"""Asking the gateway to charge, and recording its answer on our charge.

Nothing here commits or rolls back: `checkout.submit_plan` owns the transaction, committing
before each gateway call and after its answer is recorded (STYLE.md §3.4), so no database
transaction is held open across the network call.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from portal import clock, gateways
from portal.db import db
from portal.gateways.base import (
    ChargeRequest,
    ChargeResult,
    Instrument,
    SavedRef,
    SaveRefused,
    SaveRequest,
)
from portal.payments.events import take_gateway_events
from portal.payments.models import Charge, ChargeStatus, FailedAttempt, Payment, PaymentMethod
from portal.payments.transitions import remember_instrument, transition

log = logging.getLogger(__name__)

S = ChargeStatus


def shared_card(
    payment: Payment, instrument: Instrument, *, name: str, email: str | None, ip: str | None
) -> Instrument:
    """The instrument for every charge of `payment`: a card the browser's element made (a
    Stripe PaymentMethod, e.g. typed by staff for a phone payment) that pays two charges at
    one processor account (operating and trust behind one Stripe account) is first attached to
    a Customer made for this payer there, and charged through it: Stripe refuses to use again
    a PaymentMethod used once without one. The Customer is no saved payer (nothing of ours
    keeps it). Its calls carry keys derived from the payment, so a retried payment makes one.

    The network call: the caller (`checkout.submit_plan`) has just committed and holds no
    transaction open (what is read here was loaded with the payment). When the card cannot be
    attached (refused, or no answer), every charge of the payment fails here, before any
    money moves, with the processor's reason (not committed): charged as it came, the first
    could succeed and Stripe would refuse the second, leaving half a payment. Asked again, the
    payer starts a new payment.
    """
    card = payment.method is PaymentMethod.CARD and instrument.payment_method_id
    if not card or instrument.saved or len(payment.charges) < 2:
        return instrument
    accounts = [charge.merchant_account for charge in payment.charges]
    try:
        vaults = {gateways.for_account(account).vault() for account in accounts}
    except gateways.StripeConfigurationError:
        return instrument  # the charge at that account fails as it would have
    if len(vaults) != 1:
        return instrument  # separate processor accounts: a method of one is no use at another
    gateway, ids = gateways.for_account(accounts[0]), [account.id for account in accounts]
    request = SaveRequest(
        merchant_account_id=ids[0],
        method="card",
        instrument=instrument,
        payer_name=name,
        payer_email=email,
        idempotency_key=f"payment-card:{payment.public_id}",
    )
    try:
        kept = gateway.save_method(request)
    except SaveRefused as exc:
        _fail_unsent(payment, exc.code, exc.message, ip=ip)
        return instrument
    except Exception:
        log.exception("payment %s: the card could not be attached", payment.public_id)
        _fail_unsent(payment, "processing_error", UNSHARED_MESSAGE, ip=ip)
        return instrument
    return replace(
        instrument, saved=tuple(SavedRef(i, kept.customer_ref, kept.method_ref) for i in ids)
    )


#: Why a card that could not be attached failed its payment, when the processor gave no reason.
UNSHARED_MESSAGE = "The card could not be used for this payment. Please try again."


def _fail_unsent(payment: Payment, code: str, message: str, *, ip: str | None) -> None:
    """Fail every charge of `payment` that was never sent to the processor (not committed)."""
    for charge in payment.charges:
        if charge.status is not S.CREATED or charge.gateway_ref is not None:
            continue
        charge.failure_code, charge.failure_message = code, message
        transition(charge, S.FAILED, source="portal", reason=f"card not attached: {message}")
        _count_failure(charge, code, ip)


def _count_failure(charge: Charge, code: str, ip: str | None) -> None:
    """One failed attempt from `ip`, counted against repeated tries (not for the processor's
    later news, which has no ip)."""
    if ip is not None:
        db.session.add(
            FailedAttempt(
                firm_id=charge.firm_id,
                link_id=charge.payment.link_id,
                ip=ip[:64],
                at=clock.now(),
                code=code,
            )
        )


def charge_request(
    charge: Charge, instrument: Instrument, *, email: str | None, ip: str, user_agent: str
) -> ChargeRequest:
    """What the gateway is asked to charge for one of our charges."""
    account = charge.merchant_account
    return ChargeRequest(
        charge_ref=charge.public_id,
        merchant_account_id=account.id,
        amount_minor=charge.amount_minor,
        currency=charge.currency,
        method=charge.method.value,
        instrument=instrument,
        description=f"{account.label} payment {charge.payment.public_id}",
        payer_email=email,
        metadata={
            "charge": charge.public_id,
            "payment": charge.payment.public_id,
            "firm": str(charge.firm_id),
            "account_kind": charge.account_kind.value,
        },
        mandate_ip=ip,
        mandate_user_agent=user_agent,
    )


def ask_gateway(charge: Charge, request: ChargeRequest) -> ChargeResult:
    """Call the charge's gateway (the network call: the caller holds no transaction open).

    May raise anything the processor's client raises; the charge then stays "created" with its
    reservation, for the processor's events or a later fetch with the same key to settle.
    """
    return gateways.for_account(charge.merchant_account).charge(
        request, idempotency_key=charge.idempotency_key
    )


def apply_charge_result(charge: Charge, result: ChargeResult, *, ip: str | None = None) -> None:
    """Record the gateway's answer, then take the events it handed back as received ones."""
    record_charge_result(charge, result, ip=ip)
    take_gateway_events(charge.merchant_account, result.events)


def record_charge_result(charge: Charge, result: ChargeResult, *, ip: str | None = None) -> None:
    """Apply the processor's direct answer to a create/confirm or fetch call (not committed)."""
    db.session.refresh(charge)
    if charge.gateway_ref is None:
        charge.gateway_ref = result.gateway_ref
    remember_instrument(charge, result.brand, result.last4, result.fee_minor)
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
    if result.status is S.FAILED:
        _count_failure(charge, result.failure_code or "declined", ip)
