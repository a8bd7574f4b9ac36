"""The payer's bank confirming a card payment (3-D Secure), as the sandbox's test bank plays it.

A charge the processor answered with "requires_action" stays CREATED with its processor
reference and its reservations: nothing is charged until the bank confirms. With Stripe the
browser's Stripe.js talks to the bank; the sandbox, like Stripe's test mode, shows a test bank
page instead, whose answer `answer_test_bank` hands to the gateway.

Commits: `answer_test_bank`, before and after each gateway call (STYLE.md §3.4).
"""

from __future__ import annotations

import logging

from portal import gateways
from portal.db import db
from portal.payments import receipt_emails
from portal.payments.charging import apply_charge_result
from portal.payments.models import Charge, ChargeStatus, Payment

log = logging.getLogger(__name__)


def waiting_for_test_bank(payment: Payment) -> list[Charge]:
    """The payment's sandbox charges waiting for the payer's bank to confirm them.

    A CREATED charge with a processor reference is one the processor answered "not finished"
    (a charge whose call failed has no reference yet).
    """
    return [
        charge
        for charge in payment.charges
        if charge.status is ChargeStatus.CREATED
        and charge.gateway_ref is not None
        and charge.gateway == "sandbox"
    ]


def answer_test_bank(payment: Payment, *, approved: bool, ip: str) -> Payment:
    """Give the test bank's answer for each of the payment's waiting charges (commits).

    One answer covers the whole payment, as one bank confirms one card. Answering again (a
    double submit) changes nothing: the gateway moves a waiting intent once, under a lock.
    """
    db.session.commit()  # no transaction is held across the gateway call
    moved = False
    for charge in waiting_for_test_bank(payment):
        try:
            result = gateways.for_account(charge.merchant_account).authenticate(
                str(charge.gateway_ref), approved=approved
            )
        except Exception:
            db.session.rollback()
            log.exception("test bank answer failed for charge %s", charge.public_id)
            continue
        moved = moved or bool(result.events)
        apply_charge_result(charge, result, ip=ip)
        db.session.commit()
    if moved and any(c.status is ChargeStatus.SUCCEEDED for c in payment.charges):
        receipt_emails.queue_receipt_email(payment, "receipt")
        db.session.commit()
    return payment
