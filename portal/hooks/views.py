"""Inbound processor events: POST /hooks/stripe/<merchant account public id (or number)>,
verified, then applied;
and the page Stripe's onboarding sends the firm back to (GET /hooks/stripe/onboarding)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from portal.firms import services as firms
from portal.gateways.base import BadSignature
from portal.payments import services as payments

log = logging.getLogger(__name__)
#: Named "gateways" as before the move, so its endpoints keep their names.
bp = Blueprint("gateways", __name__)


@bp.post("/hooks/stripe/<public_id>")
def stripe_hook_by_public_id(public_id: str) -> ResponseReturnValue:
    """The same, addressed by the account's public id (ma_…), as the API shows it."""
    return stripe_hook(firms.merchant_account_id_for(public_id))


@bp.post("/hooks/stripe/<int:merchant_account_id>")
def stripe_hook(merchant_account_id: int) -> ResponseReturnValue:
    """Record one Stripe-shaped event. 2xx tells the processor not to send it again."""
    try:
        outcome = payments.receive_gateway_event(
            merchant_account_id, request.get_data(), request.headers.get("Stripe-Signature")
        )
    except BadSignature as exc:
        log.warning("refused processor event for account %s: %s", merchant_account_id, exc)
        return jsonify(error="signature verification failed"), 400
    return jsonify(received=True, outcome=outcome), 200


@bp.get("/hooks/stripe/onboarding")
def stripe_onboarding() -> ResponseReturnValue:
    """Where a Stripe onboarding link returns (or, with ?expired=1, refreshes) to."""
    return render_template("hooks/stripe_onboarding.html", expired=request.args.get("expired"))
