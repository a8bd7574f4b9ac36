"""The sandbox's saved methods: a test card or bank account kept as a token, as Stripe keeps a
PaymentMethod attached to a Customer.

What is kept is what the test number will do when charged (its `behaviour`), with the brand,
last four and expiry: never the number. Stripe's test cards for 3-D Secure behave as Stripe's
do once saved: 4000 0025 0000 3155 asks the payer's bank only when the payer is there, while
4000 0027 6000 3184 and 4000 0000 0000 3220 ask every time, so a charge the firm starts with
no payer present fails with `authentication_required`.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.gateways.base import Instrument, SavedInstrument, SaveRequest
from portal.gateways.models import SandboxIntent, SandboxSavedMethod

#: Stripe's code when a charge made without the payer needs their bank to confirm it.
AUTHENTICATION_REQUIRED = "authentication_required"
#: Stripe's 3-D Secure test card that, once saved for later, needs no confirmation off-session.
ON_SESSION_ONLY = "4000002500003155"


def expiry(value: str | None) -> tuple[int, int] | None:
    parts = (value or "").replace(" ", "").split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    month, year = int(parts[0]), int(parts[1])
    year += 2000 if year < 100 else 0
    return (month, year) if 1 <= month <= 12 else None


def save(
    request: SaveRequest,
    *,
    behaviour: str,
    brand: str,
    last4: str,
    exp: tuple[int, int] | None,
) -> SavedInstrument:
    """Keep a method the sandbox has read (sandbox.SandboxGateway.save_method) as a token."""
    row = SandboxSavedMethod(
        method_ref=f"pm_sbx_{secrets.token_hex(12)}",
        customer_ref=request.customer_ref or f"cus_sbx_{secrets.token_hex(8)}",
        merchant_account_id=request.merchant_account_id,
        method=request.method,
        behaviour=behaviour,
        brand=brand,
        last4=last4,
        exp_month=exp[0] if exp else None,
        exp_year=exp[1] if exp else None,
    )
    db.session.add(row)
    db.session.flush()
    return SavedInstrument(
        customer_ref=row.customer_ref,
        method_ref=row.method_ref,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
    )


def remove(merchant_account_id: int, customer_ref: str, method_ref: str) -> None:
    """Detach a saved method; an unknown or already detached one is no error."""
    row = db.session.scalar(
        select(SandboxSavedMethod).where(
            SandboxSavedMethod.method_ref == method_ref,
            SandboxSavedMethod.customer_ref == customer_ref,
            SandboxSavedMethod.merchant_account_id == merchant_account_id,
        )
    )
    if row is not None and row.detached_at is None:
        row.detached_at = clock.now()
        db.session.flush()


def confirm_saved(intent: SandboxIntent, instrument: Instrument) -> None:
    """Confirm an intent with a saved method, as its test number would behave."""
    ref = instrument.saved_at(intent.merchant_account_id)
    row = None
    if ref is not None:
        row = db.session.scalar(
            select(SandboxSavedMethod).where(
                SandboxSavedMethod.method_ref == ref.method_ref,
                SandboxSavedMethod.customer_ref == ref.customer_ref,
                SandboxSavedMethod.merchant_account_id == intent.merchant_account_id,
            )
        )
    if row is None or row.detached_at is not None or row.method != intent.method:
        intent.status, intent.failure_code = "requires_payment_method", "payment_method_unusable"
        return
    intent.brand, intent.last4 = row.brand, row.last4
    today = clock.today()
    kind, _, detail = row.behaviour.partition(":")
    if row.exp_year is not None and (row.exp_year, row.exp_month or 12) < (today.year, today.month):
        intent.status, intent.failure_code = "requires_payment_method", "expired_card"
    elif kind == "declines":
        intent.status, intent.failure_code = "requires_payment_method", detail
    elif kind == "authenticates" or (
        kind == "authenticates_on_session" and not instrument.off_session
    ):
        if instrument.off_session:
            intent.status, intent.failure_code = "requires_payment_method", AUTHENTICATION_REQUIRED
        else:
            intent.status = "requires_action"
    elif kind == "settles":
        intent.status, intent.settles_to = "processing", detail
    else:
        intent.status = "succeeded"
