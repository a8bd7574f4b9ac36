"""Saved methods on Stripe: a Customer with the PaymentMethod attached (localstripe answers
that), charged later off-session, and detached; Stripe's off-session "authentication_required"
answer through the SDK's HTTP seam (localstripe does not play it)."""

from __future__ import annotations

import pytest

from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways import for_account
from portal.gateways.base import (
    ChargeRequest,
    ChargeStatus,
    Instrument,
    SavedRef,
    SaveRequest,
)
from portal.gateways.stripe import StripeGateway
from tests.gateways.conftest import FakeStripe, LocalStripe, merchant_accounts

S = ChargeStatus
pytestmark = pytest.mark.usefixtures("session")


@pytest.fixture
def on_stripe(firm, on_localstripe: LocalStripe) -> MerchantAccount:
    account = merchant_accounts(firm.id)[MerchantAccountKind.OPERATING]
    account.gateway = "stripe"
    return account


def save_request(account: MerchantAccount, payment_method: str) -> SaveRequest:
    return SaveRequest(
        merchant_account_id=account.id,
        method="card",
        instrument=Instrument(payment_method_id=payment_method),
        payer_name="Ada Client",
        payer_email="ada@example.com",
    )


def saved_charge(account: MerchantAccount, ref: SavedRef, *, off_session: bool) -> ChargeRequest:
    return ChargeRequest(
        charge_ref="chg_saved",
        merchant_account_id=account.id,
        amount_minor=25_000,
        currency="USD",
        method="card",
        instrument=Instrument(saved=(ref,), off_session=off_session),
        description="Operating account payment pay_s",
        metadata={"charge": "chg_saved", "payment": "pay_s", "firm": "1"},
    )


def test_a_card_is_kept_on_a_customer_charged_later_and_detached(
    on_stripe: MerchantAccount, on_localstripe: LocalStripe
) -> None:
    gateway = for_account(on_stripe)
    card = on_localstripe.card("4242424242424242")

    # when
    saved = gateway.save_method(save_request(on_stripe, card))

    # then Stripe holds a customer with the card attached, and we hold its tokens only
    assert saved.customer_ref.startswith("cus_")
    assert saved.method_ref == card
    assert (saved.brand, saved.last4, saved.exp_month, saved.exp_year) == ("visa", "4242", 12, 2040)
    customer = on_localstripe.api.v1.customers.retrieve(saved.customer_ref)
    assert customer.email == "ada@example.com"
    attached = on_localstripe.api.v1.payment_methods.retrieve(card)
    assert attached.customer == saved.customer_ref

    # when the firm charges it, the payer away
    ref = SavedRef(on_stripe.id, saved.customer_ref, saved.method_ref)
    result = gateway.charge(saved_charge(on_stripe, ref, off_session=True), idempotency_key="k-s1")

    # then
    assert result.status is S.SUCCEEDED
    intent = on_localstripe.intent(result.gateway_ref)
    assert intent["customer"] == saved.customer_ref

    # when it is removed
    gateway.remove_method(saved.customer_ref, saved.method_ref)
    gateway.remove_method(saved.customer_ref, saved.method_ref)  # again: no error

    # then
    assert on_localstripe.api.v1.payment_methods.retrieve(card).customer is None


def test_a_second_card_goes_on_the_same_customer(
    on_stripe: MerchantAccount, on_localstripe: LocalStripe
) -> None:
    gateway = for_account(on_stripe)
    first = gateway.save_method(save_request(on_stripe, on_localstripe.card("4242424242424242")))
    request = save_request(on_stripe, on_localstripe.card("5555555555554444"))
    second = gateway.save_method(
        SaveRequest(**{**request.__dict__, "customer_ref": first.customer_ref})
    )
    assert second.customer_ref == first.customer_ref
    assert second.last4 == "4444"


def test_off_session_authentication_required_is_a_clean_failure(operating) -> None:
    # given Stripe's answer when the bank asks for the payer on a charge made without them
    intent = {
        "id": "pi_offsession",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "latest_charge": "ch_off",
        "payment_method": None,
        "last_payment_error": {
            "type": "card_error",
            "code": "authentication_required",
            "message": "This payment requires authentication.",
        },
    }
    fake = FakeStripe(
        (
            402,
            {
                "error": {
                    "type": "card_error",
                    "code": "authentication_required",
                    "message": "This payment requires authentication.",
                    "payment_intent": intent,
                }
            },
        )
    )
    ref = SavedRef(operating.id, "cus_1", "pm_1")

    # when
    result = StripeGateway(operating, http_client=fake).charge(
        saved_charge(operating, ref, off_session=True), idempotency_key="k-off"
    )

    # then nothing is charged and the reason is Stripe's code
    assert result.status is S.FAILED
    assert result.failure_code == "authentication_required"
    (sent,) = fake.sent
    assert sent.form["off_session"] == "true"
    assert sent.form["customer"] == "cus_1"
    assert sent.form["payment_method"] == "pm_1"
    assert "use_stripe_sdk" not in sent.form


def test_a_method_saved_at_another_account_is_not_sent(operating) -> None:
    fake = FakeStripe()
    ref = SavedRef(operating.id + 1000, "cus_1", "pm_1")
    with pytest.raises(ValueError, match="not saved at this merchant account"):
        StripeGateway(operating, http_client=fake).charge(
            saved_charge(operating, ref, off_session=True), idempotency_key="k-x"
        )
    assert fake.sent == []
