"""The sandbox gateway: an offline, deterministic processor that mirrors Stripe's test mode.

It takes Stripe's published test numbers and nothing else, so it can never touch a real card
or bank account. It keeps its PaymentIntents in `sandbox_intents` (playing Stripe's side),
answers like Stripe would, and reports every change as a Stripe-shaped event signed with
Stripe's scheme. It delivers nothing and commits nothing: each event is verified and
translated by the same code real Stripe events go through (`parse_event`), then handed back
to the caller on the ChargeResult or RefundResult (or, for ACH settlement, returned by
`settle_due`); the payments use case applies them as it applies a received event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.gateways import sandbox_saved
from portal.gateways.base import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayEvent,
    Instrument,
    RefundResult,
    SavedInstrument,
    SaveRefused,
    SaveRequest,
)
from portal.gateways.models import SandboxIntent, SandboxRefund
from portal.gateways.stripe_events import sign_payload, translate, verify

API_VERSION = "2026-10-28.endive"
TEST_NUMBER_MESSAGE = (
    "The sandbox only takes test numbers, for example card 4242 4242 4242 4242 "
    "or routing 110000000 with account 000123456789."
)


@dataclass(frozen=True)
class Outcome:
    code: str | None  # None means success
    message: str
    brand: str = "visa"


#: Stripe's test cards and what each one does.
TEST_CARDS: dict[str, Outcome] = {
    "4242424242424242": Outcome(None, "", "visa"),
    "5555555555554444": Outcome(None, "", "mastercard"),
    "4000000000000002": Outcome("card_declined", "Your card was declined."),
    "4000000000009995": Outcome("insufficient_funds", "Your card has insufficient funds."),
    "4000000000000069": Outcome("expired_card", "Your card has expired."),
    "4000000000000127": Outcome("incorrect_cvc", "Your card's security code is incorrect."),
}
#: Stripe's test cards whose bank asks the payer to confirm (3-D Secure): the intent waits in
#: requires_action until the sandbox's test bank page approves or fails it (`authenticate`).
AUTHENTICATION_CARDS = frozenset({"4000002500003155", "4000002760003184", "4000000000003220"})
#: Stripe's code when the payer's bank did not confirm a payment.
AUTHENTICATION_FAILED = "payment_intent_authentication_failure"
TEST_ROUTING = "110000000"
#: Stripe's test bank accounts and how each one settles.
TEST_BANK_ACCOUNTS: dict[str, Outcome] = {
    "000123456789": Outcome(None, "", "STRIPE TEST BANK"),
    "000111111113": Outcome("account_closed", "The bank account is closed."),
    "000111111116": Outcome("no_account", "The bank account could not be found."),
    "000222222227": Outcome("insufficient_funds", "The bank account has insufficient funds."),
    "000333333335": Outcome("debit_not_authorized", "The account holder did not authorize it."),
    # Succeeds, then comes back as a return (Stripe reports late ACH failures as disputes).
    "000555555559": Outcome(None, "", "STRIPE TEST BANK"),
}
RETURNS_AFTER_SUCCESS = {"000555555559"}


def card_fee(amount_minor: int) -> int:
    """2.9% + 30 (minor units), rounded half up, as Stripe's standard US card pricing."""
    return (amount_minor * 29 + 500) // 1000 + 30


def ach_fee(amount_minor: int) -> int:
    """0.8% capped at 500 minor units, rounded half up."""
    return min((amount_minor * 8 + 500) // 1000, 500)


def _digits(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isdigit())


def _expiry_is_future(expiry: str | None) -> bool:
    parts = (expiry or "").replace(" ", "").split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return False
    month, year = int(parts[0]), int(parts[1])
    if not 1 <= month <= 12:
        return False
    year += 2000 if year < 100 else 0
    today = clock.today()
    return (year, month) >= (today.year, today.month)


class SandboxGateway:
    """Offline processor for one merchant account."""

    name = "sandbox"

    def __init__(self, merchant_account_id: int) -> None:
        self.merchant_account_id = merchant_account_id

    # -- the processor's answers ---------------------------------------------------------

    def charge(self, request: ChargeRequest, *, idempotency_key: str) -> ChargeResult:
        """Create and confirm a PaymentIntent; a repeated key returns the first answer."""
        existing = db.session.scalar(
            select(SandboxIntent).where(SandboxIntent.idempotency_key == idempotency_key)
        )
        if existing is not None:
            return self._result(existing)
        intent = SandboxIntent(
            intent_id=f"pi_sbx_{secrets.token_hex(12)}",
            idempotency_key=idempotency_key,
            merchant_account_id=self.merchant_account_id,
            amount_minor=request.amount_minor,
            currency=request.currency,
            method=request.method,
            metadata_json=json.dumps(dict(request.metadata), sort_keys=True),
            created_at=clock.now(),
        )
        if request.instrument.saved:
            sandbox_saved.confirm_saved(intent, request.instrument)
        elif request.method == "card":
            self._confirm_card(intent, request.instrument)
        else:
            self._confirm_ach(intent, request.instrument)
        db.session.add(intent)
        db.session.flush()
        event = self._emit(intent, self._event_type(intent))
        return replace(self._result(intent), events=(event,))

    def refund(self, gateway_ref: str, amount_minor: int, *, idempotency_key: str) -> RefundResult:
        earlier = db.session.scalar(
            select(SandboxRefund).where(SandboxRefund.idempotency_key == idempotency_key)
        )
        if earlier is not None:
            # A retried request (the answer was lost on the way): the same refund, once.
            return RefundResult(gateway_ref=earlier.refund_id, status=earlier.status)
        intent = self._intent(gateway_ref)
        if (
            intent.status != "succeeded"
            or intent.refunded_minor + amount_minor > intent.amount_minor
        ):
            return RefundResult(gateway_ref="", status="failed")
        intent.refunded_minor += amount_minor
        refund = SandboxRefund(
            refund_id=f"re_sbx_{secrets.token_hex(10)}",
            idempotency_key=idempotency_key,
            intent_id=intent.id,
            amount_minor=amount_minor,
            status="succeeded",
        )
        db.session.add(refund)
        db.session.flush()
        event = self._emit(intent, "charge.refunded")
        return RefundResult(gateway_ref=refund.refund_id, status=refund.status, events=(event,))

    def find_charge(self, charge_ref: str, *, idempotency_key: str) -> ChargeResult | None:
        intent = db.session.scalar(
            select(SandboxIntent).where(
                SandboxIntent.idempotency_key == idempotency_key,
                SandboxIntent.merchant_account_id == self.merchant_account_id,
            )
        )
        return None if intent is None else self._result(intent)

    def fetch_refund(self, refund_ref: str) -> RefundResult:
        refund = db.session.scalar(
            select(SandboxRefund)
            .join(SandboxIntent, SandboxIntent.id == SandboxRefund.intent_id)
            .where(
                SandboxRefund.refund_id == refund_ref,
                SandboxIntent.merchant_account_id == self.merchant_account_id,
            )
        )
        if refund is None:
            raise LookupError(f"no sandbox refund {refund_ref}")
        return RefundResult(gateway_ref=refund.refund_id, status=refund.status)

    def fetch(self, gateway_ref: str) -> ChargeResult:
        return self._result(self._intent(gateway_ref))

    def authenticate(self, gateway_ref: str, *, approved: bool) -> ChargeResult:
        """The test bank's answer to a 3-D Secure step: succeed or fail a waiting intent.

        The intent's row is locked until the caller commits, so two answers at once (a double
        submit) move it once; an intent no longer waiting answers where it stands, no events.
        """
        intent = self._intent(gateway_ref, for_update=True)
        if intent.status != "requires_action":
            return self._result(intent)
        if approved:
            intent.status = "succeeded"
        else:
            intent.status, intent.failure_code = "requires_payment_method", AUTHENTICATION_FAILED
        db.session.flush()
        event = self._emit(intent, self._event_type(intent))
        return replace(self._result(intent), events=(event,))

    def cancel(self, gateway_ref: str, *, idempotency_key: str) -> ChargeResult:
        """Cancel an intent still waiting for the test bank; locked as `authenticate` locks it,
        so a late answer and the cancel move it once. One no longer waiting answers as is."""
        intent = self._intent(gateway_ref, for_update=True)
        if intent.status != "requires_action":
            return self._result(intent)
        intent.status, intent.failure_code = "canceled", "abandoned"
        db.session.flush()
        event = self._emit(intent, "payment_intent.canceled")
        return replace(self._result(intent), events=(event,))

    def save_method(self, request: SaveRequest) -> SavedInstrument:
        """Keep a test card or bank account as a token (portal.gateways.sandbox_saved): what
        the number will do is kept, never the number."""
        instrument = request.instrument
        exp: tuple[int, int] | None = None
        if request.method == "card":
            number = _digits(instrument.card_number)
            outcome = TEST_CARDS.get(number)
            if outcome is None and number not in AUTHENTICATION_CARDS:
                raise SaveRefused("use_test_number", TEST_NUMBER_MESSAGE)
            exp = sandbox_saved.expiry(instrument.card_expiry)
            if exp is None or not _expiry_is_future(instrument.card_expiry):
                raise SaveRefused("expired_card", "Your card has expired.")
            if outcome is None:  # asks the payer's bank (3-D Secure)
                on_session = number == sandbox_saved.ON_SESSION_ONLY
                behaviour = "authenticates_on_session" if on_session else "authenticates"
                brand = "visa"
            else:
                behaviour = f"declines:{outcome.code}" if outcome.code else "succeeds"
                brand = outcome.brand
            last4 = number[-4:]
        else:
            account = _digits(instrument.account_number)
            bank = TEST_BANK_ACCOUNTS.get(account)
            if _digits(instrument.routing_number) != TEST_ROUTING or bank is None:
                raise SaveRefused("use_test_number", TEST_NUMBER_MESSAGE)
            settles = "returned" if account in RETURNS_AFTER_SUCCESS else bank.code
            behaviour, brand, last4 = f"settles:{settles or 'succeeded'}", bank.brand, account[-4:]
        return sandbox_saved.save(request, behaviour=behaviour, brand=brand, last4=last4, exp=exp)

    def remove_method(self, customer_ref: str, method_ref: str) -> None:
        sandbox_saved.remove(self.merchant_account_id, customer_ref, method_ref)

    def parse_event(self, body: bytes, signature: str | None) -> GatewayEvent:
        """Verify a Stripe-shaped event signed with this account's sandbox secret; translate it."""
        return translate(verify(body, signature, webhook_secret(self.merchant_account_id)))

    def publishable_key(self) -> str:
        """The sandbox's form needs no key in the browser."""
        return ""

    def vault(self) -> str:
        """The sandbox keeps each account's saved methods apart (portal.gateways.sandbox_saved)."""
        return f"sandbox:{self.merchant_account_id}"

    # -- ACH settlement (the sandbox's stand-in for the banking days) --------------------

    def settle_due(self, *, older_than: dt.timedelta) -> tuple[GatewayEvent, ...]:
        """Settle this account's ACH intents that have been processing longer than `older_than`.

        Returns the events the settlements produced, in order, for the caller to apply
        (`payments.apply_gateway_events`); each names its intent in `gateway_ref`.
        """
        cutoff = clock.now() - older_than
        events: list[GatewayEvent] = []
        for intent in db.session.scalars(
            select(SandboxIntent)
            .where(
                SandboxIntent.merchant_account_id == self.merchant_account_id,
                SandboxIntent.status == "processing",
                SandboxIntent.created_at <= cutoff,
            )
            .order_by(SandboxIntent.id)
        ):
            if intent.settles_to in ("succeeded", "returned"):
                intent.status = "succeeded"
                events.append(self._emit(intent, "payment_intent.succeeded"))
                if intent.settles_to == "returned":
                    events.append(self._emit(intent, "charge.dispute.created"))
            else:
                intent.status = "requires_payment_method"
                intent.failure_code = intent.settles_to
                events.append(self._emit(intent, "payment_intent.payment_failed"))
        return tuple(events)

    # -- internals ---------------------------------------------------------------------

    def _intent(self, gateway_ref: str, *, for_update: bool = False) -> SandboxIntent:
        query = select(SandboxIntent).where(
            SandboxIntent.intent_id == gateway_ref,
            SandboxIntent.merchant_account_id == self.merchant_account_id,
        )
        intent = db.session.scalar(query.with_for_update() if for_update else query)
        if intent is None:
            raise LookupError(f"no sandbox intent {gateway_ref}")
        return intent

    def _confirm_card(self, intent: SandboxIntent, instrument: Instrument) -> None:
        number = _digits(instrument.card_number)
        outcome = TEST_CARDS.get(number)
        if outcome is None and number in AUTHENTICATION_CARDS:
            outcome = Outcome(None, "", "visa")
        if outcome is None:
            intent.status, intent.failure_code = "requires_payment_method", "use_test_number"
            return
        intent.brand, intent.last4 = outcome.brand, number[-4:]
        if not _expiry_is_future(instrument.card_expiry):
            intent.status, intent.failure_code = "requires_payment_method", "expired_card"
        elif len(_digits(instrument.card_cvc)) not in (3, 4):
            intent.status, intent.failure_code = "requires_payment_method", "incorrect_cvc"
        elif outcome.code is not None:
            intent.status, intent.failure_code = "requires_payment_method", outcome.code
        elif number in AUTHENTICATION_CARDS:
            intent.status = "requires_action"
        else:
            intent.status = "succeeded"

    def _confirm_ach(self, intent: SandboxIntent, instrument: Instrument) -> None:
        account = _digits(instrument.account_number)
        outcome = TEST_BANK_ACCOUNTS.get(account)
        if _digits(instrument.routing_number) != TEST_ROUTING or outcome is None:
            intent.status, intent.failure_code = "requires_payment_method", "use_test_number"
            return
        intent.brand, intent.last4 = outcome.brand, account[-4:]
        intent.status = "processing"
        if account in RETURNS_AFTER_SUCCESS:
            intent.settles_to = "returned"
        else:
            intent.settles_to = outcome.code or "succeeded"

    @staticmethod
    def _event_type(intent: SandboxIntent) -> str:
        return {
            "succeeded": "payment_intent.succeeded",
            "processing": "payment_intent.processing",
            "requires_action": "payment_intent.requires_action",
        }.get(intent.status, "payment_intent.payment_failed")

    def _fee(self, intent: SandboxIntent) -> int:
        return (
            card_fee(intent.amount_minor)
            if intent.method == "card"
            else ach_fee(intent.amount_minor)
        )

    def _result(self, intent: SandboxIntent) -> ChargeResult:
        status = {
            "succeeded": ChargeStatus.SUCCEEDED,
            "processing": ChargeStatus.PROCESSING,
            # As Stripe's: nothing charged yet, the payer's bank must confirm first.
            "requires_action": ChargeStatus.CREATED,
            "canceled": ChargeStatus.CANCELED,
        }.get(intent.status, ChargeStatus.FAILED)
        message = None
        if status is ChargeStatus.FAILED:
            message = _failure_message(intent.failure_code)
        return ChargeResult(
            gateway_ref=intent.intent_id,
            status=status,
            brand=intent.brand,
            last4=intent.last4,
            failure_code=intent.failure_code,
            failure_message=message,
            fee_minor=self._fee(intent) if status is ChargeStatus.SUCCEEDED else None,
            client_secret=(
                f"{intent.intent_id}_secret_sbx" if intent.status == "requires_action" else None
            ),
        )

    def _stripe_object(self, intent: SandboxIntent, event_type: str) -> dict[str, Any]:
        metadata = json.loads(intent.metadata_json)
        charge_id = f"ch_{intent.intent_id[3:]}"
        method_type = "card" if intent.method == "card" else "us_bank_account"
        details = {"brand": intent.brand, "last4": intent.last4}
        if method_type == "us_bank_account":
            details = {"bank_name": intent.brand, "last4": intent.last4}
        latest_charge = {
            "id": charge_id,
            "object": "charge",
            "amount": intent.amount_minor,
            "payment_method_details": {"type": method_type, method_type: details},
            "balance_transaction": (
                {"fee": self._fee(intent)} if intent.status == "succeeded" else None
            ),
        }
        if event_type == "charge.refunded":
            return {
                "id": charge_id,
                "object": "charge",
                "payment_intent": intent.intent_id,
                "amount": intent.amount_minor,
                "amount_refunded": intent.refunded_minor,
                "metadata": metadata,
            }
        if event_type.startswith("charge.dispute"):
            return {
                "id": f"dp_{intent.intent_id[3:]}",
                "object": "dispute",
                "payment_intent": intent.intent_id,
                "charge": charge_id,
                "amount": intent.amount_minor,
                "status": "lost",
                "reason": "insufficient_funds" if intent.method == "ach" else "fraudulent",
                "metadata": metadata,
            }
        error = None
        if intent.failure_code:
            error = {"code": intent.failure_code, "message": _failure_message(intent.failure_code)}
        return {
            "id": intent.intent_id,
            "object": "payment_intent",
            "amount": intent.amount_minor,
            "currency": intent.currency.lower(),
            "status": intent.status,
            "metadata": metadata,
            "latest_charge": latest_charge,
            "last_payment_error": error,
        }

    def _emit(self, intent: SandboxIntent, event_type: str) -> GatewayEvent:
        """Sign a Stripe-shaped event, then verify and translate it as a delivered one."""
        event = {
            "id": f"evt_sbx_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(clock.now().timestamp()),
            "livemode": False,
            "type": event_type,
            "data": {"object": self._stripe_object(intent, event_type)},
        }
        body = json.dumps(event, separators=(",", ":"))
        header = sign_payload(body, webhook_secret(self.merchant_account_id))
        return self.parse_event(body.encode(), header)


def _failure_message(code: str | None) -> str:
    if code == "use_test_number":
        return TEST_NUMBER_MESSAGE
    if code == AUTHENTICATION_FAILED:
        return "The payer's bank did not confirm the payment (3-D Secure)."
    if code == sandbox_saved.AUTHENTICATION_REQUIRED:
        return "The payer's bank asks the payer to confirm this payment."
    if code == "payment_method_unusable":
        return "The saved payment method cannot be used here."
    for outcome in (*TEST_CARDS.values(), *TEST_BANK_ACCOUNTS.values()):
        if outcome.code == code:
            return outcome.message
    return "The payment was declined."


def webhook_secret(merchant_account_id: int) -> str:
    """The sandbox's signing secret for one merchant account, derived from SECRET_KEY."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(
        key, f"matterpay.sandbox-webhook:{merchant_account_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"whsec_{digest}"
