"""Stripe: the only module that imports `stripe`. Webhook signatures and event translation.

Both gateways speak Stripe's event format: the sandbox signs its events with Stripe's scheme
through these same helpers, so one handler (payments.services.receive_gateway_event) records
results for both, and the sandbox exercises the real verification code on every payment.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import stripe

from portal import clock
from portal.gateways.base import GatewayEvent
from portal.payments.models import ChargeStatus

#: Accept a signature timestamp at most this far from now, in the past or the future.
#: (The SDK itself only refuses old timestamps, not future ones.)
TOLERANCE_SECONDS = 300


class BadSignature(Exception):
    """The event's Stripe-Signature did not verify; nothing in it may be trusted."""


def sign_payload(payload: str, secret: str, *, at: dt.datetime | None = None) -> str:
    """Build a Stripe-Signature header for `payload` (what Stripe itself sends)."""
    timestamp = int((at or clock.now()).timestamp())
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)


def verify(body: bytes, header: str | None, secret: str) -> dict[str, Any]:
    """Check the Stripe-Signature over the raw body (300 s both ways) and return the event."""
    if not header:
        raise BadSignature("missing Stripe-Signature")
    try:
        payload = body.decode("utf-8")
        timestamp = int(dict(
            part.split("=", 1) for part in header.split(",") if "=" in part
        ).get("t", ""))
    except (UnicodeDecodeError, ValueError):
        raise BadSignature("malformed Stripe-Signature") from None
    now = int(clock.now().timestamp())
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise BadSignature("timestamp outside the tolerance")
    try:
        # The SDK compares in constant time and ignores schemes other than v1. Its own age
        # check reads the system clock, so give it a tolerance wide enough that ours rules.
        stripe.WebhookSignature.verify_header(
            payload, header, secret, tolerance=abs(now - timestamp) + TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError:
        raise BadSignature("signature does not match") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadSignature("body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise BadSignature("not an event")
    return event


def _card_details(charge: dict[str, Any] | None) -> tuple[str | None, str | None]:
    details = (charge or {}).get("payment_method_details") or {}
    if details.get("type") == "card":
        card = details.get("card") or {}
        return card.get("brand"), card.get("last4")
    if details.get("type") == "us_bank_account":
        bank = details.get("us_bank_account") or {}
        return bank.get("bank_name"), bank.get("last4")
    return None, None


def _fee(charge: dict[str, Any] | None) -> int | None:
    balance = (charge or {}).get("balance_transaction")
    if isinstance(balance, dict) and isinstance(balance.get("fee"), int):
        return int(balance["fee"])
    return None


_INTENT_STATUS = {
    "payment_intent.processing": ChargeStatus.PROCESSING,
    "payment_intent.succeeded": ChargeStatus.SUCCEEDED,
    "payment_intent.payment_failed": ChargeStatus.FAILED,
    "payment_intent.canceled": ChargeStatus.CANCELED,
}


def translate(event: dict[str, Any]) -> GatewayEvent:
    """Turn a verified Stripe event into the portal's GatewayEvent."""
    kind = str(event.get("type", ""))
    obj = event["data"].get("object") or {}
    occurred = dt.datetime.fromtimestamp(int(event.get("created", 0)), dt.UTC)
    metadata = obj.get("metadata") or {}
    common = {
        "event_id": str(event.get("id", "")),
        "type": kind,
        "occurred_at": occurred,
        "charge_ref": metadata.get("charge"),
    }
    if kind in _INTENT_STATUS:
        latest = obj.get("latest_charge") if isinstance(obj.get("latest_charge"), dict) else None
        brand, last4 = _card_details(latest)
        error = obj.get("last_payment_error") or {}
        return GatewayEvent(
            **common,
            gateway_ref=obj.get("id"),
            status=_INTENT_STATUS[kind],
            amount_minor=obj.get("amount"),
            brand=brand,
            last4=last4,
            failure_code=error.get("decline_code") or error.get("code"),
            failure_message=error.get("message"),
            fee_minor=_fee(latest),
        )
    if kind == "charge.refunded":
        refunded = int(obj.get("amount_refunded") or 0)
        full = refunded >= int(obj.get("amount") or 0)
        return GatewayEvent(
            **common,
            gateway_ref=obj.get("payment_intent"),
            status=ChargeStatus.REFUNDED if full else ChargeStatus.PARTIALLY_REFUNDED,
            amount_minor=refunded,
        )
    if kind in ("charge.dispute.created", "charge.dispute.closed"):
        status: ChargeStatus | None = ChargeStatus.DISPUTED
        if kind == "charge.dispute.closed":
            status = ChargeStatus.SUCCEEDED if obj.get("status") == "won" else None
        return GatewayEvent(
            **common,
            gateway_ref=obj.get("payment_intent"),
            status=status,
            amount_minor=obj.get("amount"),
            detail=f"dispute {obj.get('status', '')}: {obj.get('reason', '')}".strip(),
        )
    return GatewayEvent(**common, gateway_ref=obj.get("id"), status=None)
