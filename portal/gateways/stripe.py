"""The Stripe gateway: PaymentIntents through one StripeClient per merchant account.

The Stripe adapter is three modules, the only ones that import `stripe`: this one (the client
and the gateway), stripe_settings.py (how each merchant account reaches Stripe) and
stripe_events.py (signed events and reading Stripe's objects).

`StripeGateway` charges through PaymentIntents, created and confirmed in one call with the
PaymentMethod the Payment Element collected. Each merchant account is configured either with
its own secret key or as a Connect account of the platform (see `settings_for`). A trust
account on Connect is charged as a destination charge: trust receives the gross amount, and
Stripe's fees and disputes land on the platform's balance, never on trust.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from typing import Any

import stripe
from flask import current_app
from stripe.params import (
    PaymentIntentCreateParams,
    PaymentMethodCreateParams,
    RefundCreateParams,
)

from portal.firms.models import MerchantAccount, MerchantAccountKind

# Still importable from here: BadSignature (raised by parse_event) and the settings error.
from portal.gateways.base import BadSignature as BadSignature
from portal.gateways.base import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayEvent,
    RefundResult,
    SavedInstrument,
    SaveRefused,
    SaveRequest,
)
from portal.gateways.stripe_events import charge_result, translate, verify
from portal.gateways.stripe_settings import (
    AccountSettings,
    api_base,
    settings_for,
    webhook_secret_for,
)
from portal.gateways.stripe_settings import (
    StripeConfigurationError as StripeConfigurationError,
)

#: Seconds to open a connection to Stripe, and to wait for its answer. gunicorn.conf.py
#: derives the worker timeout from these, so a worker is never killed mid-call (R5).
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10
#: The SDK retries connection errors, 409 and 5xx with the same Idempotency-Key.
#: StripeClient makes no retries unless told to.
NETWORK_RETRIES = 2
#: Most Stripe calls one charge makes: the create, and for a decline that names only the
#: failed charge, that charge and its PaymentIntent.
CALLS_PER_CHARGE = 3
#: Calls one payment makes before its charges to keep or share the card: a Customer created
#: and the PaymentMethod attached (a card saved as it is paid, or one card paying two charges
#: at one Stripe account: portal.payments.charging.shared_card).
CALLS_BEFORE_CHARGES = 2
#: Expanded on every PaymentIntent we read: the fee, and the instrument's brand and last four.
EXPAND = ["latest_charge.balance_transaction", "payment_method"]
#: Where tests put a stripe.HTTPClient to stand in for the network (the one test seam).
HTTP_CLIENT_EXTENSION = "portal.stripe_http_client"

#: Our payment method names and Stripe's.
_METHOD_TYPES = {"card": "card", "ach": "us_bank_account", "us_bank_account": "us_bank_account"}


# -- the client ------------------------------------------------------------------------------

_clients: dict[tuple[int, str, str], stripe.StripeClient] = {}
_clients_lock = threading.Lock()


def _client(
    settings: AccountSettings, http_client: stripe.HTTPClient | None
) -> stripe.StripeClient:
    """One StripeClient per merchant account (and key and address), kept for its connections."""
    base = api_base()
    if http_client is not None:
        return _new_client(settings.secret_key, base, http_client)
    cache_key = (settings.merchant_account_id, settings.secret_key, base)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            client = _new_client(
                settings.secret_key,
                base,
                stripe.RequestsClient(timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)),
            )
            _clients[cache_key] = client
        return client


def _new_client(secret_key: str, base: str, http_client: stripe.HTTPClient) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": base},
        max_network_retries=NETWORK_RETRIES,
        http_client=http_client,
    )


def longest_call_seconds() -> float:
    """The longest one SDK call can take: every attempt times out, with the SDK's backoff between.

    The SDK sleeps min(INITIAL_DELAY * 2**(n-1), MAX_DELAY) before retry n, scaled by a jitter
    of at most 1 and never less than INITIAL_DELAY. The read timeout applies between bytes, so
    a server that trickles its answer could hold a call longer; Stripe does not.
    """
    initial, ceiling = stripe.HTTPClient.INITIAL_DELAY, stripe.HTTPClient.MAX_DELAY
    backoff = sum(
        max(initial, min(initial * 2 ** (n - 1), ceiling)) for n in range(1, NETWORK_RETRIES + 1)
    )
    return (NETWORK_RETRIES + 1) * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + backoff


def longest_request_seconds() -> float:
    """The longest Stripe time one web request can spend: a payment's confirm step.

    A payment has at most one charge per account kind (operating and trust), made one after
    the other, each of at most CALLS_PER_CHARGE calls, after at most CALLS_BEFORE_CHARGES
    calls that keep the card on a Customer.
    """
    calls = len(MerchantAccountKind) * CALLS_PER_CHARGE + CALLS_BEFORE_CHARGES
    return calls * longest_call_seconds()


# -- the gateway -----------------------------------------------------------------------------


class StripeGateway:
    """Stripe, for one merchant account."""

    name = "stripe"

    def __init__(
        self, account: MerchantAccount, *, http_client: stripe.HTTPClient | None = None
    ) -> None:
        self.account = account
        self.settings = settings_for(account)
        seam = current_app.extensions.get(HTTP_CLIENT_EXTENSION)
        self._stripe = _client(self.settings, http_client or seam)

    def charge(self, request: ChargeRequest, *, idempotency_key: str) -> ChargeResult:
        """Create and confirm a PaymentIntent. The same key never charges twice (R1).

        A decline is an answer, not an error: it comes back FAILED with the decline code.
        Any other Stripe error is raised, and the caller leaves the charge "created" for the
        processor's events or a later fetch to settle.
        """
        typed_bank = self._typed_bank(request, idempotency_key)
        params = self._intent_params(request, typed_bank)
        options = self.settings.request_options(idempotency_key)
        try:
            intent = self._stripe.v1.payment_intents.create(params, options)
        except stripe.CardError as exc:
            return self._declined(exc)
        return charge_result(intent.to_dict())

    def refund(self, gateway_ref: str, amount_minor: int, *, idempotency_key: str) -> RefundResult:
        """Refund part or all of a PaymentIntent's charge.

        For a destination charge the transfer to the connected (trust) account is reversed
        by the same amount: the refund is the client's money going back, so it comes out of
        trust, while Stripe's fee stays with the platform.
        """
        params: RefundCreateParams = {"payment_intent": gateway_ref, "amount": amount_minor}
        if self.settings.charge_type == "destination":
            params["reverse_transfer"] = True
        options = self.settings.request_options(idempotency_key)
        refund = self._stripe.v1.refunds.create(params, options)
        return RefundResult(gateway_ref=refund.id, status=str(refund.status))

    def find_charge(self, charge_ref: str, *, idempotency_key: str) -> ChargeResult | None:
        """Search Stripe for the PaymentIntent carrying our charge reference in its metadata.

        Stripe's search index trails writes by seconds to a minute, so callers ask only about
        charges older than that; a PaymentIntent is created synchronously with the request.
        """
        if not charge_ref.replace("-", "").replace("_", "").isalnum():
            raise ValueError("a charge reference is letters, digits, - and _")
        found = self._stripe.v1.payment_intents.search(
            {"query": f"metadata['charge']:'{charge_ref}'", "limit": 1},
            self.settings.request_options(),
        )
        if not found.data:
            return None
        return charge_result(self._retrieve(found.data[0].id))

    def fetch_refund(self, refund_ref: str) -> RefundResult:
        """Ask Stripe where a Refund stands now (an ACH refund stays pending for days)."""
        refund = self._stripe.v1.refunds.retrieve(
            refund_ref, options=self.settings.request_options()
        )
        return RefundResult(gateway_ref=refund.id, status=str(refund.status))

    def fetch(self, gateway_ref: str) -> ChargeResult:
        """Ask Stripe where a PaymentIntent stands now."""
        return charge_result(self._retrieve(gateway_ref))

    def authenticate(self, gateway_ref: str, *, approved: bool) -> ChargeResult:
        """Stripe.js talks to the payer's bank itself: only ask where the intent stands."""
        return self.fetch(gateway_ref)

    def cancel(self, gateway_ref: str, *, idempotency_key: str) -> ChargeResult:
        """Cancel a PaymentIntent left waiting for 3-D Secure. Stripe refuses to cancel one the
        payer has just finished: then the answer is a fetch. (No `cancellation_reason`: it is
        only a label, and localstripe, which the tests run against, refuses it.)"""
        options = self.settings.request_options(idempotency_key)
        try:
            intent = self._stripe.v1.payment_intents.cancel(gateway_ref, None, options)
        except stripe.InvalidRequestError:
            return self.fetch(gateway_ref)
        return charge_result(intent.to_dict())

    def save_method(self, request: SaveRequest) -> SavedInstrument:
        """Attach the Payment Element's PaymentMethod to the payer's Customer at this account
        (created first when the payer has none here), for charges the firm starts later, or
        for the charges of one payment at several accounts of this Stripe account (Stripe
        refuses a PaymentMethod used once unless it is attached to a Customer). With the
        request's idempotency key, the create and the attach each carry a key derived from
        it, so a retried save makes one Customer."""
        payment_method = request.instrument.payment_method_id
        if not payment_method:
            raise ValueError(
                "saving with Stripe needs the PaymentMethod id (pm_…) from the browser"
            )
        key = request.idempotency_key
        customer = request.customer_ref
        try:
            if customer is None:
                params: dict[str, Any] = {"name": request.payer_name}
                if request.payer_email:
                    params["email"] = request.payer_email
                customer = self._stripe.v1.customers.create(
                    params,  # type: ignore[arg-type]
                    self.settings.request_options(key and f"{key}:customer"),
                ).id
            method = self._stripe.v1.payment_methods.attach(
                payment_method,
                {"customer": customer},
                self.settings.request_options(key and f"{key}:attach"),
            ).to_dict()
        except stripe.CardError as exc:
            raise SaveRefused(exc.code or "card_declined", exc.user_message or str(exc)) from exc
        except stripe.InvalidRequestError as exc:
            # E.g. a PaymentMethod made for another account: this account cannot keep it.
            raise SaveRefused(exc.code or "invalid_request", exc.user_message or str(exc)) from exc
        card = method.get("card") or {}
        bank = method.get("us_bank_account") or {}
        return SavedInstrument(
            customer_ref=customer,
            method_ref=str(method["id"]),
            brand=str(card.get("brand") or bank.get("bank_name") or ""),
            last4=str(card.get("last4") or bank.get("last4") or ""),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
        )

    def remove_method(self, customer_ref: str, method_ref: str) -> None:
        """Detach the PaymentMethod from its Customer; one already detached is no error."""
        try:
            self._stripe.v1.payment_methods.detach(
                method_ref, options=self.settings.request_options()
            )
        except stripe.InvalidRequestError as exc:
            if "not attached" not in str(exc).lower():
                raise

    def parse_event(self, body: bytes, signature: str | None) -> GatewayEvent:
        """Verify a Stripe-Signature with this account's endpoint secret(s), then translate.

        Raises BadSignature when the signature does not verify (or the body is no event).
        """
        return translate(verify(body, signature, webhook_secret_for(self.account)))

    def publishable_key(self) -> str:
        """The publishable key Stripe.js needs for this account ("" when none is set)."""
        return self.settings.publishable_key

    def vault(self) -> str:
        """The Stripe account this account's objects live in: its connected account for
        direct charges (made with Stripe-Account), else the account of its secret key (the
        platform's for destination charges). Named by a digest, never by the key itself."""
        if self.settings.charge_type == "direct" and self.settings.connect_account:
            return f"stripe:{self.settings.connect_account}"
        digest = hashlib.sha256(self.settings.secret_key.encode()).hexdigest()[:16]
        return f"stripe:key:{digest}"

    # -- internals ---------------------------------------------------------------------

    def _typed_bank(self, request: ChargeRequest, idempotency_key: str) -> str | None:
        """For a bank account whose numbers staff typed (the payer's authorisation taken by
        phone or in writing): create its us_bank_account PaymentMethod here, with the same
        key made unique to this step, so a retried charge makes one. None for anything else.

        Bank account numbers are no card data: they may pass through our server. Card
        numbers never do on Stripe (ValueError: only the Payment Element's id is charged).
        """
        instrument = request.instrument
        if instrument.card_number:
            raise ValueError("card numbers never go to Stripe: use the Payment Element")
        if _METHOD_TYPES.get(request.method) != "us_bank_account" or not instrument.account_number:
            return None
        if instrument.saved or instrument.payment_method_id or not instrument.offline_mandate:
            raise ValueError("typed bank numbers go to Stripe only with an offline mandate")
        params: PaymentMethodCreateParams = {
            "type": "us_bank_account",
            "us_bank_account": {
                "routing_number": instrument.routing_number or "",
                "account_number": instrument.account_number,
                "account_holder_type": "individual",
                "account_type": "savings" if instrument.account_type == "savings" else "checking",
            },
            "billing_details": {"name": instrument.account_holder or ""},
        }
        if instrument.holder_email:  # where Stripe sends the micro-deposits
            params["billing_details"]["email"] = instrument.holder_email
        method = self._stripe.v1.payment_methods.create(
            params, self.settings.request_options(f"{idempotency_key}:payment-method")
        )
        return str(method.id)

    def _intent_params(
        self, request: ChargeRequest, typed_bank: str | None = None
    ) -> PaymentIntentCreateParams:
        method_type = _METHOD_TYPES.get(request.method)
        if method_type is None:
            raise ValueError(f"Stripe cannot take {request.method!r} payments")
        saved = request.instrument.saved_at(self.settings.merchant_account_id)
        payment_method = saved.method_ref if saved else request.instrument.payment_method_id
        payment_method = typed_bank or payment_method
        if request.instrument.saved and saved is None:
            raise ValueError("the saved method was not saved at this merchant account")
        if not payment_method:
            raise ValueError("a Stripe charge needs the PaymentMethod id (pm_…) from the browser")
        params: PaymentIntentCreateParams = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "payment_method": payment_method,
            # API 2026-09-30.endive (what stripe 16 pins) refuses `payment_method_types` on
            # PaymentIntents with payment_method_types_no_longer_supported; this replaces it.
            "allowed_payment_method_types": [method_type],
            "confirm": True,
            # Confirmed here, finished in the browser: 3-D Secure and microdeposit steps are
            # handed to Stripe.js with the client secret.
            "use_stripe_sdk": True,
            "description": request.description,
            "metadata": {
                **dict(request.metadata),
                "merchant_account": str(self.settings.merchant_account_id),
            },
            "expand": EXPAND,
        }
        if request.payer_email:
            params["receipt_email"] = request.payer_email
        if saved is not None:
            params["customer"] = saved.customer_ref
        if request.instrument.off_session:
            # The firm starts it with the payer away: a bank that asks the payer to confirm
            # makes Stripe answer authentication_required, a decline (see _declined).
            params["off_session"] = True
            del params["use_stripe_sdk"]
        if request.instrument.moto and method_type == "card":
            # Staff typed the card the payer read them by phone or mail: a mail/telephone order.
            params["payment_method_options"] = {"card": {"moto": True}}
        first_of_future = request.instrument.setup_future and not request.instrument.off_session
        if first_of_future and saved is not None:
            # The first charge of a method kept for payments the firm starts: Stripe sets it up
            # for those off-session charges (and may ask the bank to authenticate once now).
            params["setup_future_usage"] = "off_session"
        if typed_bank is not None:
            # Numbers typed by staff are verified by micro-deposits: the intent then waits in
            # requires_action (verify_with_microdeposits) until the payer confirms them from
            # Stripe's email, and only then processes.
            params["payment_method_options"] = {
                "us_bank_account": {"verification_method": "microdeposits"}
            }
        if method_type == "us_bank_account" and (
            request.instrument.off_session or request.instrument.offline_mandate
        ):
            # The payer agreed away from any page of ours: by phone or in writing to staff,
            # or to future payments the firm starts (the consent's words are the mandate).
            params["mandate_data"] = {"customer_acceptance": {"type": "offline"}}
        elif method_type == "us_bank_account":
            if not (request.mandate_ip and request.mandate_user_agent):
                raise ValueError("a bank debit needs the payer's mandate: IP address and browser")
            params["mandate_data"] = {
                "customer_acceptance": {
                    "type": "online",
                    "online": {
                        "ip_address": request.mandate_ip,
                        "user_agent": request.mandate_user_agent,
                    },
                }
            }
        if self.settings.charge_type == "destination" and self.settings.connect_account:
            # The whole amount is transferred to trust; the platform pays Stripe's fee and
            # carries disputes. on_behalf_of makes trust the settlement merchant.
            params["on_behalf_of"] = self.settings.connect_account
            params["transfer_data"] = {
                "destination": self.settings.connect_account,
                "amount": request.amount_minor,
            }
        return params

    def _retrieve(self, intent_id: str) -> dict[str, Any]:
        intent = self._stripe.v1.payment_intents.retrieve(
            intent_id, {"expand": EXPAND}, self.settings.request_options()
        )
        return intent.to_dict()

    def _declined(self, exc: stripe.CardError) -> ChargeResult:
        """Turn a card decline into a FAILED result for the PaymentIntent it left behind."""
        error = exc.error
        intent: dict[str, Any] | None = None
        if error is not None and error.payment_intent is not None:
            intent = error.payment_intent.to_dict()  # what Stripe itself sends
        elif error is not None and error.charge:
            # Only the failed charge is named: find its PaymentIntent through it.
            charge = self._stripe.v1.charges.retrieve(
                error.charge, options=self.settings.request_options()
            )
            if charge.payment_intent:
                intent = self._retrieve(str(charge.payment_intent))
        if intent is None or not intent.get("id"):
            # Nothing names the PaymentIntent, so there is no reference to record. Raising
            # leaves the charge "created"; the payment_intent.payment_failed event settles it.
            raise exc
        result = charge_result(intent)
        if result.status is not ChargeStatus.FAILED:
            return result
        code = (error.decline_code or error.code or exc.code) if error is not None else exc.code
        message = (error.message if error is not None else None) or result.failure_message
        return replace(result, failure_code=code or result.failure_code, failure_message=message)
