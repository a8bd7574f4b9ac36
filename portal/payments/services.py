"""The payment use cases by their old address: a thin module that re-exports the public names.

The work lives in modules split by job, each saying which of its functions own commits:
checkout.py (what a link may pay; start_payment and submit_plan), attempts.py (card-testing
limits), charging.py (the gateway call and its answer), events.py (processor events:
receive_gateway_event, apply_gateway_events), transitions.py (the transition table and its
money effects), refunds.py (refund_payment) and account_settings.py (a merchant account's
settings and going live on Stripe: update_merchant_account, start_stripe_onboarding). Callers
may import those directly; this module
keeps `from portal.payments import services as payments` working.
"""

from __future__ import annotations

from portal.payments.attempts import TooManyAttempts, check_attempt_limits
from portal.payments.authentication import answer_test_bank, waiting_for_test_bank
from portal.payments.charging import record_charge_result
from portal.payments.checkout import (
    MethodUnavailable,
    Origin,
    Payer,
    firm_rules,
    merchant_account,
    payable_invoices,
    payable_requests,
    payment_by_key,
    payment_for_link,
    select_payable_invoices,
    start_payment,
    submit_plan,
    trust_matters,
)
from portal.payments.events import (
    apply_gateway_event,
    apply_gateway_events,
    receive_gateway_event,
)
from portal.payments.models import payment_status
from portal.payments.refunds import RefundLine, refund_payment
from portal.payments.transitions import transition

__all__ = [
    "MethodUnavailable",
    "Origin",
    "Payer",
    "RefundLine",
    "TooManyAttempts",
    "answer_test_bank",
    "apply_gateway_event",
    "apply_gateway_events",
    "check_attempt_limits",
    "firm_rules",
    "merchant_account",
    "payable_invoices",
    "payable_requests",
    "payment_by_key",
    "payment_for_link",
    "payment_status",
    "receive_gateway_event",
    "record_charge_result",
    "refund_payment",
    "select_payable_invoices",
    "start_payment",
    "submit_plan",
    "transition",
    "trust_matters",
    "waiting_for_test_bank",
]
