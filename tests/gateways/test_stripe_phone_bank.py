"""A bank debit taken by phone on Stripe, through the SDK's HTTP seam (localstripe has no
us_bank_account): the gateway makes the us_bank_account PaymentMethod from the numbers staff
typed (billing name and email), confirms it with an offline mandate and micro-deposit
verification, and the charge waits (created) while Stripe asks for the deposits. Card numbers
never go to Stripe, and typed bank numbers go only with an offline mandate."""

from __future__ import annotations

from typing import Any

import pytest

from portal.firms.models import MerchantAccount
from portal.gateways import for_account
from portal.gateways.base import ChargeRequest, ChargeStatus, Instrument
from tests.gateways.conftest import FakeStripe, Sent, intent_answer

pytestmark = pytest.mark.usefixtures("session")

BANK = Instrument(
    routing_number="110000000",
    account_number="000123456789",
    account_holder="Ada Parent",
    account_type="savings",
    offline_mandate=True,
    holder_email="ada.parent@example.com",
)
MICRODEPOSITS = {
    "type": "verify_with_microdeposits",
    "verify_with_microdeposits": {
        "arrival_date": 1_800_000_000,
        "hosted_verification_url": "https://payments.stripe.com/microdeposit/pacs_test",
        "microdeposit_type": "descriptor_code",
    },
}


def waiting_for_deposits(sent: Sent) -> tuple[int, dict[str, Any]]:
    if sent.path == "/v1/payment_methods":
        return 200, {
            "id": "pm_bank_typed_1",
            "object": "payment_method",
            "type": "us_bank_account",
            "us_bank_account": {"bank_name": "STRIPE TEST BANK", "last4": "6789"},
        }
    return intent_answer("requires_action", next_action=MICRODEPOSITS)(sent)


def request(instrument: Instrument, account: MerchantAccount) -> ChargeRequest:
    return ChargeRequest(
        charge_ref="chg_phone_bank",
        merchant_account_id=account.id,
        amount_minor=25_000,
        currency="USD",
        method="ach",
        instrument=instrument,
        description="Operating account payment pay_b",
        metadata={"charge": "chg_phone_bank", "payment": "pay_b", "firm": "1"},
        mandate_ip="10.0.0.9",  # the staff user's: never the payer's mandate
        mandate_user_agent="Console browser",
    )


def test_typed_bank_numbers_make_a_payment_method_confirmed_offline_with_microdeposits(
    operating: MerchantAccount, wire: FakeStripe
) -> None:
    wire.router = waiting_for_deposits

    # when
    result = for_account(operating).charge(request(BANK, operating), idempotency_key="k-bank-1")

    # then the PaymentMethod is made first, with its own key derived from the charge's
    made, confirmed = wire.posts()
    assert made.path == "/v1/payment_methods"
    assert made.form == {
        "type": "us_bank_account",
        "us_bank_account[routing_number]": "110000000",
        "us_bank_account[account_number]": "000123456789",
        "us_bank_account[account_holder_type]": "individual",
        "us_bank_account[account_type]": "savings",
        "billing_details[name]": "Ada Parent",
        "billing_details[email]": "ada.parent@example.com",
    }
    assert made.header("Idempotency-Key") == "k-bank-1:payment-method"
    # and the PaymentIntent is confirmed with it: offline mandate, micro-deposits
    assert confirmed.path == "/v1/payment_intents"
    assert confirmed.header("Idempotency-Key") == "k-bank-1"
    form = confirmed.form
    assert form["payment_method"] == "pm_bank_typed_1"
    assert form["allowed_payment_method_types[0]"] == "us_bank_account"
    assert form["confirm"] == "true"
    assert form["mandate_data[customer_acceptance][type]"] == "offline"
    assert not any(k.startswith("mandate_data[customer_acceptance][online]") for k in form)
    assert form["payment_method_options[us_bank_account][verification_method]"] == "microdeposits"
    assert "payment_method_options[card][moto]" not in form
    assert "off_session" not in form
    # nothing is debited while Stripe waits for the deposits: the charge stays created
    assert result.status is ChargeStatus.CREATED
    assert result.gateway_ref.startswith("pi_fake_")


def test_the_same_key_again_asks_stripe_with_the_same_keys(
    operating: MerchantAccount, wire: FakeStripe
) -> None:
    wire.router = waiting_for_deposits
    gateway = for_account(operating)
    gateway.charge(request(BANK, operating), idempotency_key="k-bank-2")
    gateway.charge(request(BANK, operating), idempotency_key="k-bank-2")
    keys = [s.header("Idempotency-Key") for s in wire.posts()]
    assert keys == ["k-bank-2:payment-method", "k-bank-2"] * 2  # Stripe answers both once


@pytest.mark.parametrize(
    "instrument",
    [
        Instrument(card_number="4242424242424242", card_expiry="12/40", card_cvc="123"),
        Instrument(routing_number="110000000", account_number="000123456789"),
    ],
    ids=["card numbers", "bank numbers without an offline mandate"],
)
def test_typed_numbers_otherwise_never_reach_stripe(
    operating: MerchantAccount, wire: FakeStripe, instrument: Instrument
) -> None:
    method = "card" if instrument.card_number else "ach"
    charge = request(instrument, operating)
    charge = ChargeRequest(**{**charge.__dict__, "method": method})
    with pytest.raises(ValueError, match=r"never go to Stripe|only with an offline mandate"):
        for_account(operating).charge(charge, idempotency_key="k-bank-3")
    assert not wire.sent
