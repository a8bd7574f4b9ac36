"""Stripe's wire formats: signed webhook events (verify, sign, translate) and reading objects.

Both gateways speak Stripe's event format: the sandbox signs its events with Stripe's scheme
through these same helpers and verifies them with `verify`, so the real verification code
runs on every sandbox payment. `charge_result` and `translate` map Stripe's PaymentIntents and
events onto the portal's ChargeResult and GatewayEvent. Part of the Stripe adapter.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import stripe

from portal import clock
from portal.gateways.base import BadSignature, ChargeResult, ChargeStatus, GatewayEvent

#: Accept a signature timestamp at most this far from now, in the past or the future.
#: (The SDK itself only refuses old timestamps, not future ones.)
TOLERANCE_SECONDS = 300


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
            # age check reads the system clock (not ours, which tests may hold still), so
            # give it a tolerance wide enough that ours rules.
            system_age = abs(int(time.time()) - timestamp)
            stripe.WebhookSignature.verify_header(
                payload, header, candidate, tolerance=system_age + TOLERANCE_SECONDS
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
