"""Stripe: the only module that imports `stripe`. The Stripe gateway, webhook signatures, events.

Both gateways speak Stripe's event format: the sandbox signs its events with Stripe's scheme
through these same helpers, so one handler (payments.services.receive_gateway_event) records
results for both, and the sandbox exercises the real verification code on every payment.

`StripeGateway` charges through PaymentIntents, created and confirmed in one call with the
PaymentMethod the Payment Element collected. Each merchant account is configured either with
its own secret key or as a Connect account of the platform (see `settings_for`). A trust
account on Connect is charged as a destination charge: trust receives the gross amount, and
Stripe's fees and disputes land on the platform's balance, never on trust.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import stripe
from flask import current_app
from stripe.params import PaymentIntentCreateParams, RefundCreateParams

from portal import clock
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways.base import ChargeRequest, ChargeResult, GatewayEvent, RefundResult
from portal.payments.models import ChargeStatus

#: Accept a signature timestamp at most this far from now, in the past or the future.
#: (The SDK itself only refuses old timestamps, not future ones.)
TOLERANCE_SECONDS = 300
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
DEFAULT_API_BASE = "https://api.stripe.com"
#: Expanded on every PaymentIntent we read: the fee, and the instrument's brand and last four.
EXPAND = ["latest_charge.balance_transaction", "payment_method"]
#: Where tests put a stripe.HTTPClient to stand in for the network (the one test seam).
HTTP_CLIENT_EXTENSION = "portal.stripe_http_client"

#: Our payment method names and Stripe's.
_METHOD_TYPES = {"card": "card", "ach": "us_bank_account", "us_bank_account": "us_bank_account"}
#: Keys a STRIPE_ACCOUNTS entry may hold. Anything else is refused, so that a misspelt
#: "connect_account" cannot silently send a trust deposit to the platform's own balance.
_ACCOUNT_KEYS = frozenset(
    {
        "secret_key",
        "connect_account",
        "webhook_secret",
        "publishable_key",
        "trust_fees_billed_elsewhere",
    }
)


class BadSignature(Exception):
    """The event's Stripe-Signature did not verify; nothing in it may be trusted."""


class StripeConfigurationError(RuntimeError):
    """The Stripe settings for a merchant account are missing, unsafe or contradictory."""


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountSettings:
    """How one merchant account reaches Stripe, resolved from configuration."""

    merchant_account_id: int
    secret_key: str
    #: "standalone" (the key's own account), "destination" (a Connect destination charge
    #: made by the platform) or "direct" (a charge on a connected account via Stripe-Account).
    charge_type: str
    connect_account: str | None
    publishable_key: str

    def request_options(self, idempotency_key: str | None = None) -> stripe.RequestOptions:
        """Per-request options: our idempotency key, and the connected account if direct."""
        options: stripe.RequestOptions = {}
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        if self.charge_type == "direct" and self.connect_account:
            options["stripe_account"] = self.connect_account
        return options


def _accounts_setting() -> dict[str, Mapping[str, Any]]:
    raw = current_app.config.get("STRIPE_ACCOUNTS", {}) or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise StripeConfigurationError("STRIPE_ACCOUNTS is not valid JSON") from None
    if not isinstance(raw, Mapping):
        raise StripeConfigurationError("STRIPE_ACCOUNTS must map merchant account ids to objects")
    entries: dict[str, Mapping[str, Any]] = {}
    for key, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise StripeConfigurationError(f"STRIPE_ACCOUNTS[{key!r}] must be an object")
        unknown = set(entry) - _ACCOUNT_KEYS
        if unknown:
            raise StripeConfigurationError(
                f"STRIPE_ACCOUNTS[{key!r}] has unknown keys {sorted(unknown)}; "
                f"allowed: {sorted(_ACCOUNT_KEYS)}"
            )
        entries[str(key)] = entry
    return entries


def _account_entry(merchant_account_id: int) -> Mapping[str, Any]:
    return _accounts_setting().get(str(merchant_account_id), {})


def _check_key_mode(key: str, *, what: str, live: tuple[str, ...], test: tuple[str, ...]) -> None:
    """Refuse live keys outside production and test keys in production."""
    production = current_app.config.get("ENV", "development") == "production"
    if key.startswith(live):
        if not production:
            raise StripeConfigurationError(
                f"{what} is a live key ({key[:8]}…) but ENV is not production; "
                "use a test-mode key outside production"
            )
    elif key.startswith(test):
        if production:
            raise StripeConfigurationError(
                f"{what} is a test-mode key ({key[:8]}…) but ENV is production"
            )
    else:
        raise StripeConfigurationError(f"{what} does not look like a Stripe key")


def _api_base() -> str:
    base = str(current_app.config.get("STRIPE_API_BASE", DEFAULT_API_BASE) or DEFAULT_API_BASE)
    production = current_app.config.get("ENV", "development") == "production"
    if production and not base.startswith("https://"):
        # The secret key travels in every request's Authorization header.
        raise StripeConfigurationError("STRIPE_API_BASE must be an https:// address in production")
    return base.rstrip("/")


def settings_for(account: MerchantAccount) -> AccountSettings:
    """Resolve how `account` reaches Stripe, refusing unsafe or contradictory settings.

    An account's STRIPE_ACCOUNTS entry gives either its own `secret_key` or the
    `connect_account` (acct_…) it settles into through the platform key STRIPE_SECRET_KEY.
    An operating account without an entry uses the platform key directly. A trust account
    must have an entry: charged on the platform's own key, client money would land in the
    platform's balance. A trust account with its own key has Stripe's fees, refunds and
    disputes taken from its balance, so it is refused unless the entry says
    `"trust_fees_billed_elsewhere": true` (the firm arranged for Stripe to bill them apart).
    """
    entry = _account_entry(account.id)
    own_key = entry.get("secret_key")
    connect_account = entry.get("connect_account")
    label = f"merchant account {account.id}"
    if own_key and connect_account:
        raise StripeConfigurationError(
            f"STRIPE_ACCOUNTS for {label} names both a secret_key and a connect_account"
        )
    is_trust = account.kind is MerchantAccountKind.TRUST
    if connect_account:
        if not str(connect_account).startswith("acct_"):
            raise StripeConfigurationError(f"connect_account for {label} must be an acct_… id")
        charge_type = "destination" if is_trust else "direct"
    elif own_key:
        if is_trust and entry.get("trust_fees_billed_elsewhere") is not True:
            raise StripeConfigurationError(
                f"{label} is a trust account with its own Stripe key: Stripe would take fees, "
                "refunds and disputes from trust. Configure it as a connect_account, or set "
                '"trust_fees_billed_elsewhere": true if Stripe bills them elsewhere'
            )
        charge_type = "standalone"
    elif is_trust:
        raise StripeConfigurationError(
            f"{label} is a trust account and has no STRIPE_ACCOUNTS entry; client money must "
            "not be charged into the platform's own balance"
        )
    else:
        charge_type = "standalone"
    secret_key = str(own_key or current_app.config.get("STRIPE_SECRET_KEY", "") or "")
    if not secret_key:
        raise StripeConfigurationError(
            f"no Stripe secret key for {label}: set STRIPE_SECRET_KEY or STRIPE_ACCOUNTS"
        )
    _check_key_mode(
        secret_key,
        what=f"the Stripe secret key for {label}",
        live=("sk_live_", "rk_live_"),
        test=("sk_test_", "rk_test_"),
    )
    publishable_key = str(
        entry.get("publishable_key") or current_app.config.get("STRIPE_PUBLISHABLE_KEY", "") or ""
    )
    if publishable_key:
        _check_key_mode(
            publishable_key,
            what=f"the Stripe publishable key for {label}",
            live=("pk_live_",),
            test=("pk_test_",),
        )
    return AccountSettings(
        merchant_account_id=account.id,
        secret_key=secret_key,
        charge_type=charge_type,
        connect_account=str(connect_account) if connect_account else None,
        publishable_key=publishable_key,
    )


def webhook_secret_for(account: MerchantAccount) -> str:
    """The whsec_ secret(s) of the endpoint that delivers this account's events.

    While a secret is being rolled, give both, comma-separated: `verify` accepts either (R7).
    """
    secret = _account_entry(account.id).get("webhook_secret") or current_app.config.get(
        "STRIPE_WEBHOOK_SECRET", ""
    )
    if isinstance(secret, list | tuple):
        secret = ",".join(str(s) for s in secret)
    secret = str(secret or "")
    if not secret or not all(s.strip().startswith("whsec_") for s in secret.split(",")):
        raise StripeConfigurationError(
            f"no whsec_ webhook secret for merchant account {account.id}: set "
            "STRIPE_WEBHOOK_SECRET or its STRIPE_ACCOUNTS webhook_secret"
        )
    return secret


# -- the client ------------------------------------------------------------------------------

_clients: dict[tuple[int, str, str], stripe.StripeClient] = {}
_clients_lock = threading.Lock()


def _client(
    settings: AccountSettings, http_client: stripe.HTTPClient | None
) -> stripe.StripeClient:
    """One StripeClient per merchant account (and key and address), kept for its connections."""
    base = _api_base()
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
    the other, each of at most CALLS_PER_CHARGE calls.
    """
    return len(MerchantAccountKind) * CALLS_PER_CHARGE * longest_call_seconds()


# -- the gateway -----------------------------------------------------------------------------


class StripeGateway:
    """Stripe, for one merchant account."""

    name = "stripe"

    def __init__(
        self, account: MerchantAccount, *, http_client: stripe.HTTPClient | None = None
    ) -> None:
        self.settings = settings_for(account)
        seam = current_app.extensions.get(HTTP_CLIENT_EXTENSION)
        self._stripe = _client(self.settings, http_client or seam)

    def charge(self, request: ChargeRequest, *, idempotency_key: str) -> ChargeResult:
        """Create and confirm a PaymentIntent. The same key never charges twice (R1).

        A decline is an answer, not an error: it comes back FAILED with the decline code.
        Any other Stripe error is raised, and the caller leaves the charge "created" for the
        processor's events or a later fetch to settle.
        """
        params = self._intent_params(request)
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

    def fetch(self, gateway_ref: str) -> ChargeResult:
        """Ask Stripe where a PaymentIntent stands now."""
        return charge_result(self._retrieve(gateway_ref))

    # -- internals ---------------------------------------------------------------------

    def _intent_params(self, request: ChargeRequest) -> PaymentIntentCreateParams:
        method_type = _METHOD_TYPES.get(request.method)
        if method_type is None:
            raise ValueError(f"Stripe cannot take {request.method!r} payments")
        payment_method = request.instrument.payment_method_id
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
        if method_type == "us_bank_account":
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


# -- reading Stripe objects ------------------------------------------------------------------


def _as_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _method_details(method: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """Brand and last four of a PaymentMethod or a charge's payment_method_details."""
    if method is None:
        return None, None
    kind = method.get("type")
    if kind == "card":
        card = _as_dict(method.get("card")) or {}
        return card.get("brand"), card.get("last4")
    if kind == "us_bank_account":
        bank = _as_dict(method.get("us_bank_account")) or {}
        return bank.get("bank_name"), bank.get("last4")
    return None, None


def _instrument(intent: dict[str, Any]) -> tuple[str | None, str | None]:
    """Brand and last four from whichever part of a PaymentIntent is expanded.

    The charge's payment_method_details when latest_charge is expanded; else the expanded
    payment_method; else, after a decline, the PaymentMethod inside last_payment_error.
    Real webhook payloads carry latest_charge as a bare id, so any of these may be missing.
    """
    latest = _as_dict(intent.get("latest_charge")) or {}
    error = _as_dict(intent.get("last_payment_error")) or {}
    for candidate in (
        _as_dict(latest.get("payment_method_details")),
        _as_dict(intent.get("payment_method")),
        _as_dict(error.get("payment_method")),
    ):
        brand, last4 = _method_details(candidate)
        if brand or last4:
            return brand, last4
    return None, None


def _fee(charge: dict[str, Any] | None) -> int | None:
    balance = (charge or {}).get("balance_transaction")
    if isinstance(balance, dict) and isinstance(balance.get("fee"), int):
        return int(balance["fee"])
    return None


def charge_result(intent: dict[str, Any]) -> ChargeResult:
    """Map a PaymentIntent (as a plain dict) onto the portal's ChargeResult.

    requires_action means the payer's bank wants 3-D Secure (or the bank account needs
    microdeposits): nothing has been charged and only the browser can continue, so the
    charge stays CREATED and the client secret is handed back for Stripe.js to finish it.
    PROCESSING would be wrong: it means money is on its way, which it is not.
    """
    status = intent.get("status")
    brand, last4 = _instrument(intent)
    common: dict[str, Any] = {"gateway_ref": str(intent["id"]), "brand": brand, "last4": last4}
    if status == "succeeded":
        latest = _as_dict(intent.get("latest_charge"))
        return ChargeResult(**common, status=ChargeStatus.SUCCEEDED, fee_minor=_fee(latest))
    if status == "processing":
        return ChargeResult(**common, status=ChargeStatus.PROCESSING)
    if status == "requires_action":
        return ChargeResult(
            **common, status=ChargeStatus.CREATED, client_secret=intent.get("client_secret")
        )
    if status == "requires_payment_method":
        error = _as_dict(intent.get("last_payment_error")) or {}
        return ChargeResult(
            **common,
            status=ChargeStatus.FAILED,
            failure_code=error.get("decline_code") or error.get("code") or "payment_failed",
            failure_message=error.get("message") or "The payment was not completed.",
        )
    if status == "canceled":
        # Same word as the payment_intent.canceled event, so a fetch and the event agree.
        return ChargeResult(
            **common,
            status=ChargeStatus.CANCELED,
            failure_code=intent.get("cancellation_reason") or "canceled",
        )
    # requires_confirmation or requires_capture: not finished, and not ours to finish here.
    return ChargeResult(**common, status=ChargeStatus.CREATED)


# -- webhooks --------------------------------------------------------------------------------


def sign_payload(payload: str, secret: str, *, at: dt.datetime | None = None) -> str:
    """Build a Stripe-Signature header for `payload` (what Stripe itself sends)."""
    timestamp = int((at or clock.now()).timestamp())
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)


def verify(body: bytes, header: str | None, secret: str) -> dict[str, Any]:
    """Check the Stripe-Signature over the raw body (300 s both ways) and return the event.

    `secret` may hold several comma-separated whsec_ secrets while one is being rolled;
    a v1 signature made with any of them is accepted.
    """
    if not header:
        raise BadSignature("missing Stripe-Signature")
    try:
        payload = body.decode("utf-8")
        timestamp = int(
            dict(part.split("=", 1) for part in header.split(",") if "=" in part).get("t", "")
        )
    except (UnicodeDecodeError, ValueError):
        raise BadSignature("malformed Stripe-Signature") from None
    now = int(clock.now().timestamp())
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise BadSignature("timestamp outside the tolerance")
    candidates = [s.strip() for s in secret.split(",") if s.strip()]
    for candidate in candidates:
        try:
            # The SDK compares in constant time and ignores schemes other than v1. Its own
            # age check reads the system clock, so give it a tolerance wide enough that
            # ours rules.
            stripe.WebhookSignature.verify_header(
                payload, header, candidate, tolerance=abs(now - timestamp) + TOLERANCE_SECONDS
            )
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise BadSignature("signature does not match")
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadSignature("body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise BadSignature("not an event")
    return event


_INTENT_STATUS = {
    "payment_intent.processing": ChargeStatus.PROCESSING,
    "payment_intent.succeeded": ChargeStatus.SUCCEEDED,
    "payment_intent.payment_failed": ChargeStatus.FAILED,
    "payment_intent.canceled": ChargeStatus.CANCELED,
}


def translate(event: dict[str, Any]) -> GatewayEvent:
    """Turn a verified Stripe event into the portal's GatewayEvent.

    Works on what Stripe really sends, where related objects are bare ids (latest_charge,
    balance_transaction); brand, last four and fee are then simply unknown from the event.
    """
    kind = str(event.get("type", ""))
    obj = _as_dict(event["data"].get("object")) or {}
    occurred = dt.datetime.fromtimestamp(int(event.get("created", 0)), dt.UTC)
    metadata = _as_dict(obj.get("metadata")) or {}
    common: dict[str, Any] = {
        "event_id": str(event.get("id", "")),
        "type": kind,
        "occurred_at": occurred,
        "charge_ref": metadata.get("charge"),
    }
    if kind in _INTENT_STATUS:
        brand, last4 = _instrument(obj)
        error = _as_dict(obj.get("last_payment_error")) or {}
        return GatewayEvent(
            **common,
            gateway_ref=obj.get("id"),
            status=_INTENT_STATUS[kind],
            amount_minor=obj.get("amount"),
            brand=brand,
            last4=last4,
            failure_code=error.get("decline_code") or error.get("code"),
            failure_message=error.get("message"),
            fee_minor=_fee(_as_dict(obj.get("latest_charge"))),
        )
    if kind == "charge.refunded":
        refunded = int(obj.get("amount_refunded") or 0)
        full = refunded >= int(obj.get("amount") or 0)
        return GatewayEvent(
            **common,
            gateway_ref=_ref(obj.get("payment_intent")),
            status=ChargeStatus.REFUNDED if full else ChargeStatus.PARTIALLY_REFUNDED,
            amount_minor=refunded,
        )
    if kind in ("charge.dispute.created", "charge.dispute.closed"):
        status: ChargeStatus | None = ChargeStatus.DISPUTED
        if kind == "charge.dispute.closed":
            status = ChargeStatus.SUCCEEDED if obj.get("status") == "won" else None
        return GatewayEvent(
            **common,
            gateway_ref=_ref(obj.get("payment_intent")),
            status=status,
            amount_minor=obj.get("amount"),
            detail=f"dispute {obj.get('status', '')}: {obj.get('reason', '')}".strip(),
        )
    return GatewayEvent(**common, gateway_ref=_ref(obj.get("id")), status=None)


def _ref(value: Any) -> str | None:
    """An object reference that may arrive as an id or, when expanded, as the object."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None
