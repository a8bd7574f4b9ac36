"""StripeGateway through the real SDK on a fake transport: what localstripe cannot show.

ACH debits and their mandate, Connect destination charges for trust, direct charges for
operating, idempotency keys on the wire and across the SDK's retries, and the error mapping.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import unquote_plus, urlsplit

import pytest
import stripe

from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways import for_account
from portal.gateways.base import ChargeRequest, Instrument
from portal.gateways.stripe import (
    NETWORK_RETRIES,
    READ_TIMEOUT_SECONDS,
    StripeGateway,
)
from portal.payments import services as payments
from portal.payments.models import ChargeStatus, PaymentMethod
from tests.gateways.conftest import SECRET_KEY, FakeStripe, intent_answer, merchant_accounts
from tests.payments.conftest import ACH_OK, Book, pay

S = ChargeStatus
pytestmark = pytest.mark.usefixtures("session")


@pytest.fixture
def trust(accounts, stripe_settings) -> MerchantAccount:
    account = accounts[MerchantAccountKind.TRUST]
    stripe_settings["STRIPE_ACCOUNTS"] = {str(account.id): {"connect_account": "acct_trust_1"}}
    return account


def request_for(
    account: MerchantAccount,
    *,
    method: str = "card",
    amount_minor: int = 50_000,
    payment_method: str = "pm_card_visa",
    mandate: bool = True,
) -> ChargeRequest:
    return ChargeRequest(
        charge_ref="chg_w",
        merchant_account_id=account.id,
        amount_minor=amount_minor,
        currency="USD",
        method=method,
        instrument=Instrument(payment_method_id=payment_method),
        description="Trust account payment pay_w",
        payer_email="ada@example.com",
        metadata={"charge": "chg_w", "payment": "pay_w", "firm": "1", "account_kind": "trust"},
        mandate_ip="203.0.113.9" if mandate else None,
        mandate_user_agent="Mozilla/5.0 (pytest)" if mandate else None,
    )


def gateway(account: MerchantAccount, fake: FakeStripe) -> StripeGateway:
    return StripeGateway(account, http_client=fake)


# -- ACH -------------------------------------------------------------------------------------


def test_an_ach_debit_is_processing_and_carries_the_mandate(operating) -> None:
    fake = FakeStripe(intent_answer("processing"))
    # when
    result = gateway(operating, fake).charge(
        request_for(operating, method="ach", payment_method="pm_usBankAccount_success"),
        idempotency_key="charge-create:ach1",
    )
    # then money is on its way, not arrived
    assert result.status is S.PROCESSING
    assert (result.brand, result.last4, result.fee_minor) == ("STRIPE TEST BANK", "6789", None)
    (sent,) = fake.sent
    assert (sent.method, sent.path) == ("POST", "/v1/payment_intents")
    assert sent.form["allowed_payment_method_types[0]"] == "us_bank_account"
    assert "payment_method_types[0]" not in sent.form  # refused by API version endive
    assert sent.form["payment_method"] == "pm_usBankAccount_success"
    assert sent.form["confirm"] == "true"
    assert sent.form["mandate_data[customer_acceptance][type]"] == "online"
    assert sent.form["mandate_data[customer_acceptance][online][ip_address]"] == "203.0.113.9"
    assert sent.form["mandate_data[customer_acceptance][online][user_agent]"] == (
        "Mozilla/5.0 (pytest)"
    )
    assert (sent.form["amount"], sent.form["currency"]) == ("50000", "usd")


def test_a_card_charge_sends_no_mandate(operating) -> None:
    fake = FakeStripe()
    gateway(operating, fake).charge(request_for(operating), idempotency_key="charge-create:c1")
    (sent,) = fake.sent
    assert sent.form["allowed_payment_method_types[0]"] == "card"
    assert not any(key.startswith("mandate_data") for key in sent.form)
    assert sent.form["expand[0]"] == "latest_charge.balance_transaction"


def test_an_ach_debit_without_the_mandate_is_not_sent(operating) -> None:
    fake = FakeStripe()
    with pytest.raises(ValueError, match="mandate"):
        gateway(operating, fake).charge(
            request_for(operating, method="ach", mandate=False), idempotency_key="charge-create:x"
        )
    assert fake.sent == []


# -- Connect ---------------------------------------------------------------------------------


def test_trust_is_a_destination_charge_for_the_gross_amount(trust) -> None:
    fake = FakeStripe()
    # when
    result = gateway(trust, fake).charge(request_for(trust), idempotency_key="charge-create:t1")
    # then the platform charges and transfers everything to the trust account
    assert result.status is S.SUCCEEDED
    (sent,) = fake.sent
    assert sent.form["transfer_data[destination]"] == "acct_trust_1"
    assert sent.form["transfer_data[amount]"] == "50000"
    assert sent.form["on_behalf_of"] == "acct_trust_1"
    # on the platform's own key, not on the connected account
    assert sent.header("Stripe-Account") is None
    assert sent.header("Authorization") == f"Bearer {SECRET_KEY}"


def test_a_trust_refund_reverses_the_transfer(trust) -> None:
    fake = FakeStripe()
    refund = gateway(trust, fake).refund("pi_fake_1", 10_000, idempotency_key="refund:r1")
    assert (refund.gateway_ref, refund.status) == ("re_fake_1", "succeeded")
    (sent,) = fake.sent
    assert sent.path == "/v1/refunds"
    assert sent.form == {
        "payment_intent": "pi_fake_1",
        "amount": "10000",
        "reverse_transfer": "true",
    }
    assert sent.header("Idempotency-Key") == "refund:r1"


def test_a_pending_refund_is_asked_about_by_its_reference(trust) -> None:
    fake = FakeStripe(
        (200, {"id": "re_fake_9", "object": "refund", "status": "pending", "amount": 100}),
        (200, {"id": "re_fake_9", "object": "refund", "status": "succeeded", "amount": 100}),
    )
    stripe_gateway = gateway(trust, fake)
    made = stripe_gateway.refund("pi_fake_1", 100, idempotency_key="refund:r9")
    assert (made.gateway_ref, made.status) == ("re_fake_9", "pending")
    later = stripe_gateway.fetch_refund("re_fake_9")
    assert (later.gateway_ref, later.status) == ("re_fake_9", "succeeded")
    assert (fake.sent[1].method, fake.sent[1].path) == ("GET", "/v1/refunds/re_fake_9")
    # a trust account's refund is read on the platform, where the destination charge lives
    assert fake.sent[1].header("Stripe-Account") is None


def test_an_unanswered_charge_is_found_by_our_reference_or_not_at_all(operating) -> None:
    found = {"object": "search_result", "data": [{"id": "pi_fake_7", "object": "payment_intent"}]}
    empty = {"object": "search_result", "data": []}
    fake = FakeStripe((200, found), intent_answer(), (200, empty))
    stripe_gateway = gateway(operating, fake)

    result = stripe_gateway.find_charge("chg_w", idempotency_key="charge-create:w")
    assert result is not None and result.status is S.SUCCEEDED
    search, retrieve = fake.sent[0], fake.sent[1]
    assert (search.method, search.path) == ("GET", "/v1/payment_intents/search")
    assert "metadata['charge']:'chg_w'" in unquote_plus(urlsplit(search.url).query)
    assert retrieve.path.startswith("/v1/payment_intents/pi_fake_7")

    assert stripe_gateway.find_charge("chg_x", idempotency_key="charge-create:x") is None
    with pytest.raises(ValueError, match="charge reference"):
        stripe_gateway.find_charge("x' OR '1", idempotency_key="charge-create:y")


def test_operating_on_connect_is_a_direct_charge(operating, stripe_settings) -> None:
    stripe_settings["STRIPE_ACCOUNTS"] = {str(operating.id): {"connect_account": "acct_op_1"}}
    fake = FakeStripe()
    stripe_gateway = gateway(operating, fake)
    # when
    charged = stripe_gateway.charge(request_for(operating), idempotency_key="charge-create:o1")
    stripe_gateway.fetch(charged.gateway_ref)
    stripe_gateway.refund(charged.gateway_ref, 100, idempotency_key="refund:o1")
    # then every call is made on the connected account, and nothing is transferred
    assert [sent.header("Stripe-Account") for sent in fake.sent] == ["acct_op_1"] * 3
    assert not any(key.startswith(("transfer_data", "on_behalf_of")) for key in fake.sent[0].form)
    assert "reverse_transfer" not in fake.sent[2].form


# -- idempotency and retries -----------------------------------------------------------------


def test_the_idempotency_key_is_ours_and_survives_the_sdk_retries(operating) -> None:
    in_use = (
        409,
        {
            "error": {
                "type": "invalid_request_error",
                "code": "idempotency_key_in_use",
                "message": "Another request with this key is in progress.",
            }
        },
    )
    broken = (500, {"error": {"type": "api_error", "message": "Something went wrong."}})
    fake = FakeStripe(in_use, broken)
    # when
    result = gateway(operating, fake).charge(
        request_for(operating), idempotency_key="charge-create:k1"
    )
    # then the SDK retried twice with the very same key, and the third answer counted
    assert result.status is S.SUCCEEDED
    assert len(fake.sent) == 3
    assert {sent.header("Idempotency-Key") for sent in fake.sent} == {"charge-create:k1"}
    assert {sent.header("Stripe-Version") for sent in fake.sent} == {stripe.api_version}
    assert len({sent.form["amount"] for sent in fake.sent}) == 1


def test_stripe_errors_other_than_declines_are_raised_after_the_retries(operating) -> None:
    broken = (500, {"error": {"type": "api_error", "message": "Something went wrong."}})
    fake = FakeStripe(broken, broken, broken)
    with pytest.raises(stripe.APIError):
        gateway(operating, fake).charge(request_for(operating), idempotency_key="charge-create:k2")
    assert len(fake.sent) == NETWORK_RETRIES + 1


def test_a_request_error_is_raised_not_retried(operating) -> None:
    bad = (
        400,
        {
            "error": {
                "type": "invalid_request_error",
                "code": "parameter_unknown",
                "message": "Received unknown parameter",
            }
        },
    )
    fake = FakeStripe(bad)
    with pytest.raises(stripe.InvalidRequestError):
        gateway(operating, fake).charge(request_for(operating), idempotency_key="charge-create:k3")
    assert len(fake.sent) == 1


def test_payments_send_no_personal_data_in_keys_or_metadata(
    book: Book, wire: FakeStripe, stripe_settings
) -> None:
    found = merchant_accounts(book.link.firm_id)
    for account in found.values():
        account.gateway = "stripe"
    trust = found[MerchantAccountKind.TRUST]
    stripe_settings["STRIPE_ACCOUNTS"] = {str(trust.id): {"connect_account": "acct_trust_1"}}
    # when the client pays an invoice and a trust deposit by bank debit, then gets a refund
    payment = pay(
        book,
        invoices={book.old.id: 120_000},
        trust={book.matter.id: 50_000},
        method=PaymentMethod.ACH,
        instrument=Instrument(payment_method_id="pm_usBankAccount_success"),
    )
    assert [c.status for c in payment.charges] == [S.SUCCEEDED, S.SUCCEEDED]
    operating_charge = payment.charges[0]
    payments.refund_payment(
        firm_id=book.link.firm_id,
        payment_public_id=payment.public_id,
        lines=[payments.RefundLine(operating_charge.allocations[0].id, 1_000)],
        idempotency_key="back-office-refund-1",
    )
    # then each call carries the key the portal stored, and no key says who paid
    creates = [s for s in wire.posts() if s.path == "/v1/payment_intents"]
    refunds = [s for s in wire.posts() if s.path == "/v1/refunds"]
    assert [s.header("Idempotency-Key") for s in creates] == [
        c.idempotency_key for c in payment.charges
    ]
    personal = [
        "Ada",
        "ada@example.com",
        "203.0.113.9",
        "pytest",
        "pm_usBankAccount",
        ACH_OK.account_number or "",
        book.client.name,
        book.client.email or "",
    ]
    for sent in creates + refunds:
        key = sent.header("Idempotency-Key") or ""
        assert re.fullmatch(r"[a-z-]+:[A-Za-z0-9_-]+", key)
        assert len(key) <= 255
        assert not any(word and word in key for word in personal)
    # and the metadata names our records only
    for sent in creates:
        metadata = {k: v for k, v in sent.form.items() if k.startswith("metadata[")}
        assert set(metadata) == {
            "metadata[charge]",
            "metadata[payment]",
            "metadata[firm]",
            "metadata[account_kind]",
            "metadata[merchant_account]",
        }
        assert not any(word and word in value for value in metadata.values() for word in personal)
    assert len(refunds) == 1
    assert refunds[0].form["amount"] == "1000"


# -- how Stripe's answers map ----------------------------------------------------------------


def test_a_decline_as_real_stripe_sends_it(operating) -> None:
    declined_intent = {
        "id": "pi_declined",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "latest_charge": "ch_declined",
        "payment_method": None,
        "last_payment_error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_method": {
                "id": "pm_1",
                "object": "payment_method",
                "type": "card",
                "card": {"brand": "visa", "last4": "9995"},
            },
        },
    }
    fake = FakeStripe(
        (
            402,
            {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                    "charge": "ch_declined",
                    "payment_intent": declined_intent,
                }
            },
        )
    )
    result = gateway(operating, fake).charge(
        request_for(operating), idempotency_key="charge-create:d1"
    )
    assert result.status is S.FAILED
    assert (result.gateway_ref, result.failure_code) == ("pi_declined", "insufficient_funds")
    assert result.failure_message == "Your card has insufficient funds."
    assert (result.brand, result.last4) == ("visa", "9995")
    assert len(fake.sent) == 1  # the error named the intent: nothing more to ask


def test_a_decline_that_names_no_payment_intent_is_raised(operating) -> None:
    fake = FakeStripe(
        (
            402,
            {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "message": "Your card was declined.",
                }
            },
        )
    )
    with pytest.raises(stripe.CardError):
        gateway(operating, fake).charge(request_for(operating), idempotency_key="charge-create:d2")


@pytest.mark.parametrize(
    ("stripe_status", "expected"),
    [
        ("succeeded", S.SUCCEEDED),
        ("processing", S.PROCESSING),
        ("requires_action", S.CREATED),
        ("requires_payment_method", S.FAILED),
        ("canceled", S.CANCELED),
        ("requires_confirmation", S.CREATED),
        ("requires_capture", S.CREATED),
    ],
)
def test_fetch_maps_every_payment_intent_status(operating, stripe_status, expected) -> None:
    fake = FakeStripe(intent_answer(stripe_status))
    result = gateway(operating, fake).fetch("pi_fetched")
    assert (result.gateway_ref, result.status) == ("pi_fetched", expected)
    assert (result.client_secret is not None) is (stripe_status == "requires_action")
    (sent,) = fake.sent
    assert (sent.method, sent.path) == ("GET", "/v1/payment_intents/pi_fetched")
    assert sent.header("Idempotency-Key") is None
    if expected is S.SUCCEEDED:
        assert result.fee_minor == 388


# -- the client ------------------------------------------------------------------------------


def test_one_client_per_account_with_short_timeouts_and_two_retries(accounts, trust) -> None:
    operating = accounts[MerchantAccountKind.OPERATING]
    first, second = for_account(operating), for_account(operating)
    assert isinstance(first, StripeGateway)
    assert isinstance(second, StripeGateway)
    other = for_account(trust)
    assert isinstance(other, StripeGateway)
    # StripeClient keeps these privately; R5 needs them checked somewhere.
    assert first._stripe is second._stripe
    assert first._stripe is not other._stripe
    requestor = first._stripe._requestor
    assert type(requestor._client).__name__ == "RequestsClient"
    assert max(requestor._client._timeout) <= READ_TIMEOUT_SECONDS <= 10
    assert requestor._options.max_network_retries == NETWORK_RETRIES == 2
    assert requestor._options.base_addresses["api"] == "https://api.stripe.com"


# -- MOTO --------------------------------------------------------------------------------------


def test_a_card_taken_by_staff_is_sent_as_a_mail_or_telephone_order(operating) -> None:
    fake = FakeStripe()
    request = request_for(operating)
    request = replace(request, instrument=replace(request.instrument, moto=True))
    # when
    gateway(operating, fake).charge(request, idempotency_key="charge-create:moto1")
    # then
    (sent,) = fake.sent
    assert sent.form["payment_method_options[card][moto]"] == "true"
    assert sent.form["payment_method"] == "pm_card_visa"


def test_a_card_the_client_pays_with_is_no_mail_or_telephone_order(
    book: Book, wire: FakeStripe
) -> None:
    for account in merchant_accounts(book.link.firm_id).values():
        account.gateway = "stripe"
    # when the client pays on their own pay page
    payment = pay(
        book,
        invoices={book.old.id: 120_000},
        instrument=Instrument(payment_method_id="pm_card_visa"),
    )
    # then
    assert [c.status for c in payment.charges] == [S.SUCCEEDED]
    (sent,) = [s for s in wire.posts() if s.path == "/v1/payment_intents"]
    assert sent.form["payment_method"] == "pm_card_visa"
    assert not any(key.startswith("payment_method_options") for key in sent.form)
