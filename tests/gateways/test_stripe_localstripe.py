"""StripeGateway over HTTP against a real localstripe: charge, decline, 3-D Secure, fetch, refund,
and localstripe's own signed webhooks checked by our verify() and translate()."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways import for_account
from portal.gateways.base import BadSignature, ChargeRequest, ChargeStatus, Instrument
from portal.gateways.stripe import StripeGateway
from portal.gateways.stripe_events import translate, verify
from tests.gateways.conftest import WEBHOOK_SECRET, LocalStripe, merchant_accounts

S = ChargeStatus
pytestmark = pytest.mark.usefixtures("session")


@pytest.fixture
def operating(firm, on_localstripe: LocalStripe) -> MerchantAccount:
    account = merchant_accounts(firm.id)[MerchantAccountKind.OPERATING]
    account.gateway = "stripe"
    return account


def card_request(
    account: MerchantAccount, payment_method: str, *, ref: str = "chg_1", amount_minor: int = 12_345
) -> ChargeRequest:
    return ChargeRequest(
        charge_ref=ref,
        merchant_account_id=account.id,
        amount_minor=amount_minor,
        currency="USD",
        method="card",
        instrument=Instrument(payment_method_id=payment_method),
        description="Operating account payment pay_1",
        payer_email="ada@example.com",
        metadata={
            "charge": ref,
            "payment": "pay_1",
            "firm": str(account.firm_id),
            "account_kind": "operating",
        },
        mandate_ip="203.0.113.9",
        mandate_user_agent="pytest",
    )


def test_a_visa_payment_succeeds_and_fetch_agrees(operating, on_localstripe: LocalStripe) -> None:
    gateway = for_account(operating)
    assert isinstance(gateway, StripeGateway)
    # when
    result = gateway.charge(
        card_request(operating, "pm_card_visa"), idempotency_key="charge-create:a"
    )
    # then
    assert result.status is S.SUCCEEDED
    assert result.gateway_ref.startswith("pi_")
    assert (result.brand, result.last4) == ("visa", "4242")
    assert result.fee_minor == 0  # localstripe charges no fee; the field came from the expansion
    assert result.client_secret is None
    assert gateway.fetch(result.gateway_ref).status is S.SUCCEEDED
    # and Stripe holds what we sent
    intent = on_localstripe.intent(result.gateway_ref)
    assert (intent["amount"], intent["currency"]) == (12_345, "usd")
    assert intent["metadata"] == {
        "charge": "chg_1",
        "payment": "pay_1",
        "firm": str(operating.firm_id),
        "account_kind": "operating",
        "merchant_account": str(operating.id),
    }
    assert intent["description"] == "Operating account payment pay_1"
    assert intent["receipt_email"] == "ada@example.com"


def test_a_mail_or_telephone_order_is_accepted(operating, on_localstripe: LocalStripe) -> None:
    request = card_request(operating, "pm_card_visa", ref="chg_moto")
    request = replace(request, instrument=replace(request.instrument, moto=True))
    # when staff's card (marked moto) is charged
    result = for_account(operating).charge(request, idempotency_key="charge-create:moto")
    # then localstripe takes the parameter (it does not keep it: test_stripe_wire checks what
    # is sent) and the charge succeeds
    assert result.status is S.SUCCEEDED
    assert on_localstripe.intent(result.gateway_ref)["status"] == "succeeded"


def test_a_decline_is_a_failed_result_not_an_exception(operating) -> None:
    gateway = for_account(operating)
    # pm_card_chargeCustomerFail is localstripe's card that fails when charged
    # (its pm_card_visa_chargeDeclined wrongly succeeds).
    result = gateway.charge(
        card_request(operating, "pm_card_chargeCustomerFail"), idempotency_key="charge-create:b"
    )
    assert result.status is S.FAILED
    assert result.failure_code == "card_declined"
    assert result.failure_message == "Your card was declined."
    assert result.gateway_ref.startswith("pi_")  # found through the failed charge
    assert result.last4 == "0341"
    fetched = gateway.fetch(result.gateway_ref)
    assert (fetched.status, fetched.failure_code) == (S.FAILED, "card_declined")


def test_3d_secure_leaves_the_charge_created_with_a_client_secret(
    operating, on_localstripe: LocalStripe
) -> None:
    gateway = for_account(operating)
    card = on_localstripe.card("4000002760003184")  # always asks for authentication
    # when
    result = gateway.charge(card_request(operating, card), idempotency_key="charge-create:c")
    # then nothing is charged yet, and the browser gets what it needs to continue
    assert result.status is S.CREATED
    assert result.client_secret
    assert result.client_secret.startswith(f"{result.gateway_ref}_secret")
    # when the payer completes authentication in the browser
    on_localstripe.authenticate(result.gateway_ref, result.client_secret)
    # then
    assert gateway.fetch(result.gateway_ref).status is S.SUCCEEDED


def test_failed_authentication_fetches_as_failed(operating, on_localstripe: LocalStripe) -> None:
    gateway = for_account(operating)
    result = gateway.charge(
        card_request(operating, on_localstripe.card("4000002500003155")),
        idempotency_key="charge-create:d",
    )
    assert result.client_secret is not None
    on_localstripe.authenticate(result.gateway_ref, result.client_secret, success=False)
    fetched = gateway.fetch(result.gateway_ref)
    assert (fetched.status, fetched.failure_code) == (
        S.FAILED,
        "payment_intent_authentication_failure",
    )


def test_a_partial_refund(operating, on_localstripe: LocalStripe) -> None:
    gateway = for_account(operating)
    charged = gateway.charge(
        card_request(operating, "pm_card_visa"), idempotency_key="charge-create:e"
    )
    # when
    refund = gateway.refund(charged.gateway_ref, 2_345, idempotency_key="refund:e")
    # then
    assert refund.gateway_ref.startswith("re_")
    assert refund.status == "succeeded"
    assert on_localstripe.intent(charged.gateway_ref)["latest_charge"]["amount_refunded"] == 2_345


def test_localstripe_webhooks_verify_and_translate(operating, on_localstripe: LocalStripe) -> None:
    gateway = for_account(operating)
    paid = gateway.charge(
        card_request(operating, "pm_card_visa", ref="chg_ok"), idempotency_key="charge-create:f"
    )
    declined = gateway.charge(
        card_request(operating, "pm_card_chargeCustomerFail", ref="chg_no"),
        idempotency_key="charge-create:g",
    )
    # then localstripe signs and delivers both outcomes, and our verify() accepts them
    receiver = on_localstripe.receiver
    succeeded = receiver.wait_for("payment_intent.succeeded", paid.gateway_ref)
    failed = receiver.wait_for("payment_intent.payment_failed", declined.gateway_ref)
    assert succeeded.error is None
    assert failed.error is None
    assert succeeded.event is not None
    assert failed.event is not None
    # and they translate into what the payment services act on
    ok = translate(succeeded.event)
    assert (ok.status, ok.gateway_ref, ok.charge_ref) == (S.SUCCEEDED, paid.gateway_ref, "chg_ok")
    assert ok.event_id.startswith("evt_")
    no = translate(failed.event)
    assert (no.status, no.charge_ref, no.failure_code) == (S.FAILED, "chg_no", "card_declined")
    # and a delivery changed by one byte, or checked with another secret, is refused
    with pytest.raises(BadSignature):
        verify(
            succeeded.body.replace(b"succeeded", b"succeedeD", 1),
            succeeded.signature,
            WEBHOOK_SECRET,
        )
    with pytest.raises(BadSignature):
        verify(succeeded.body, succeeded.signature, "whsec_someone_else")


def test_an_abandoned_authentication_is_canceled(operating, on_localstripe: LocalStripe) -> None:
    gateway = for_account(operating)
    waiting = gateway.charge(
        card_request(operating, on_localstripe.card("4000002760003184")),
        idempotency_key="charge-create:abandoned",
    )
    assert waiting.status is S.CREATED
    # when the payer never comes back from their bank
    canceled = gateway.cancel(waiting.gateway_ref, idempotency_key="charge-create:abandoned:x")
    # then nothing is charged, and Stripe agrees
    assert canceled.status is S.CANCELED
    assert on_localstripe.intent(waiting.gateway_ref)["status"] == "canceled"
    assert gateway.fetch(waiting.gateway_ref).status is S.CANCELED


def test_a_cancel_just_after_the_payer_finished_answers_where_it_stands(
    operating, on_localstripe: LocalStripe
) -> None:
    gateway = for_account(operating)
    waiting = gateway.charge(
        card_request(operating, on_localstripe.card("4000002760003184")),
        idempotency_key="charge-create:late",
    )
    assert waiting.client_secret is not None
    on_localstripe.authenticate(waiting.gateway_ref, waiting.client_secret)
    # Stripe refuses to cancel a succeeded PaymentIntent: the answer is a fetch
    assert gateway.cancel(waiting.gateway_ref, idempotency_key="late:x").status is S.SUCCEEDED
