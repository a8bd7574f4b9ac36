"""Stripe-Signature checks and the translation of events shaped as real Stripe sends them.

Real payloads carry related objects as bare ids (latest_charge, balance_transaction,
payment_intent); the sandbox and localstripe send some of them expanded. Both must work.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import stripe

from portal import clock
from portal.gateways.base import BadSignature, ChargeStatus
from portal.gateways.stripe_events import sign_payload, translate, verify

S = ChargeStatus
SECRET = "whsec_events_test"


def event(kind: str, obj: dict, *, event_id: str = "evt_1") -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": 1_790_000_000,
        "api_version": stripe.api_version,
        "livemode": False,
        "data": {"object": obj},
    }


def test_succeeded_with_latest_charge_as_an_id() -> None:
    translated = translate(
        event(
            "payment_intent.succeeded",
            {
                "id": "pi_1",
                "object": "payment_intent",
                "amount": 5000,
                "status": "succeeded",
                "latest_charge": "ch_1",
                "payment_method": "pm_1",
                "metadata": {"charge": "chg_1"},
                "last_payment_error": None,
            },
        )
    )
    assert (translated.status, translated.gateway_ref, translated.charge_ref) == (
        S.SUCCEEDED,
        "pi_1",
        "chg_1",
    )
    assert translated.amount_minor == 5000
    assert (translated.brand, translated.last4, translated.fee_minor) == (None, None, None)
    assert translated.occurred_at == dt.datetime.fromtimestamp(1_790_000_000, dt.UTC)


def test_succeeded_with_latest_charge_expanded() -> None:
    translated = translate(
        event(
            "payment_intent.succeeded",
            {
                "id": "pi_1",
                "metadata": {},
                "latest_charge": {
                    "id": "ch_1",
                    "balance_transaction": {"id": "txn_1", "fee": 175},
                    "payment_method_details": {
                        "type": "card",
                        "card": {"brand": "amex", "last4": "0005"},
                    },
                },
            },
        )
    )
    assert (translated.brand, translated.last4, translated.fee_minor) == ("amex", "0005", 175)


def test_a_failed_payment_keeps_the_decline_code_and_instrument() -> None:
    translated = translate(
        event(
            "payment_intent.payment_failed",
            {
                "id": "pi_2",
                "metadata": {"charge": "chg_2"},
                "latest_charge": "ch_2",
                "payment_method": None,
                "last_payment_error": {
                    "code": "card_declined",
                    "decline_code": "stolen_card",
                    "message": "Declined.",
                    "payment_method": {"type": "card", "card": {"brand": "visa", "last4": "9979"}},
                },
            },
        )
    )
    assert (translated.status, translated.failure_code, translated.failure_message) == (
        S.FAILED,
        "stolen_card",
        "Declined.",
    )
    assert (translated.brand, translated.last4) == ("visa", "9979")


def test_an_ach_failure_uses_the_error_code() -> None:
    translated = translate(
        event(
            "payment_intent.payment_failed",
            {
                "id": "pi_3",
                "metadata": {},
                "latest_charge": "ch_3",
                "last_payment_error": {
                    "code": "account_closed",
                    "message": "The account is closed.",
                    "payment_method": {
                        "type": "us_bank_account",
                        "us_bank_account": {"bank_name": "STRIPE TEST BANK", "last4": "1113"},
                    },
                },
            },
        )
    )
    assert (translated.failure_code, translated.brand, translated.last4) == (
        "account_closed",
        "STRIPE TEST BANK",
        "1113",
    )


@pytest.mark.parametrize(("refunded", "status"), [(1000, S.PARTIALLY_REFUNDED), (5000, S.REFUNDED)])
def test_charge_refunded(refunded: int, status: ChargeStatus) -> None:
    translated = translate(
        event(
            "charge.refunded",
            {
                "id": "ch_1",
                "object": "charge",
                "amount": 5000,
                "amount_refunded": refunded,
                "payment_intent": "pi_1",
                "metadata": {},
            },
        )
    )
    assert (translated.status, translated.gateway_ref, translated.amount_minor) == (
        status,
        "pi_1",
        refunded,
    )


def test_disputes_point_at_the_payment_intent() -> None:
    opened = translate(
        event(
            "charge.dispute.created",
            {
                "id": "dp_1",
                "object": "dispute",
                "amount": 5000,
                "charge": "ch_1",
                "payment_intent": "pi_1",
                "status": "needs_response",
                "reason": "fraudulent",
            },
        )
    )
    assert (opened.status, opened.gateway_ref) == (S.DISPUTED, "pi_1")
    won = translate(
        event(
            "charge.dispute.closed",
            {"id": "dp_1", "payment_intent": "pi_1", "status": "won", "reason": "fraudulent"},
        )
    )
    lost = translate(
        event(
            "charge.dispute.closed",
            {"id": "dp_1", "payment_intent": "pi_1", "status": "lost", "reason": "fraudulent"},
        )
    )
    assert (won.status, lost.status) == (S.SUCCEEDED, None)


def test_other_events_imply_no_status() -> None:
    translated = translate(event("payment_intent.requires_action", {"id": "pi_4", "metadata": {}}))
    assert (translated.status, translated.gateway_ref) == (None, "pi_4")


# -- signatures ------------------------------------------------------------------------------


def _signed(payload: dict, secret: str = SECRET, **kw) -> tuple[bytes, str]:
    body = json.dumps(payload)
    return body.encode(), sign_payload(body, secret, **kw)


def test_a_good_signature_returns_the_event() -> None:
    body, header = _signed(event("payment_intent.succeeded", {"id": "pi_1"}))
    assert verify(body, header, SECRET)["id"] == "evt_1"


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=abc,v1=00", "v1=deadbeef", "t=1,v0=deadbeef"],
)
def test_malformed_headers_are_refused_not_crashed_on(header: str) -> None:
    body, _ = _signed(event("payment_intent.succeeded", {"id": "pi_1"}))
    with pytest.raises(BadSignature):
        verify(body, header, SECRET)


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamps_more_than_300_s_away_either_way_are_refused(skew: int) -> None:
    body, header = _signed(
        event("payment_intent.succeeded", {"id": "pi_1"}),
        at=clock.now() + dt.timedelta(seconds=skew),
    )
    with pytest.raises(BadSignature, match="tolerance"):
        verify(body, header, SECRET)


def test_reserialised_json_is_refused() -> None:
    body, header = _signed(event("payment_intent.succeeded", {"id": "pi_1"}))
    with pytest.raises(BadSignature):
        verify(json.dumps(json.loads(body), indent=1).encode(), header, SECRET)


def test_either_secret_verifies_while_one_is_rolled() -> None:
    body, old_header = _signed(event("payment_intent.succeeded", {"id": "pi_1"}), "whsec_old")
    _, new_header = _signed(event("payment_intent.succeeded", {"id": "pi_1"}), "whsec_new")
    assert verify(body, old_header, "whsec_new,whsec_old")["id"] == "evt_1"
    assert verify(body, new_header, "whsec_new, whsec_old")["id"] == "evt_1"
    with pytest.raises(BadSignature):
        verify(body, old_header, "whsec_new,whsec_other")


def test_a_header_with_a_signature_per_secret_verifies_with_either() -> None:
    body, old_header = _signed(event("payment_intent.succeeded", {"id": "pi_1"}), "whsec_old")
    _, new_header = _signed(event("payment_intent.succeeded", {"id": "pi_1"}), "whsec_new")
    both = f"{old_header},{new_header.split(',', 1)[1]}"  # t=…,v1=<old>,v1=<new>
    assert verify(body, both, "whsec_new")["id"] == "evt_1"
    assert verify(body, both, "whsec_old")["id"] == "evt_1"
