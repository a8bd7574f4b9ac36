"""One card from the Payment Element paying two charges at one Stripe account (an invoice at
operating and a trust deposit, both behind the platform's key), through the SDK's HTTP seam:
Stripe refuses to use again a PaymentMethod used once without a Customer, so the card is
attached to a Customer made for the payer first (once, with keys derived from the payment),
and both PaymentIntents carry that Customer. One charge, or two Stripe accounts, need none.
Also: the first charge of a card kept for payments the firm starts carries
setup_future_usage "off_session", and no other charge does."""

from __future__ import annotations

from typing import Any

import pytest

from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways.base import Instrument
from portal.payers import services as payers
from portal.payers.models import ConsentHow, ConsentScope, MethodKind
from portal.payments import charging
from portal.payments.models import ChargeStatus
from tests import factories
from tests.gateways.conftest import SECRET_KEY, FakeStripe, LocalStripe, Sent, saving_router
from tests.payments.conftest import Book, pay

pytestmark = pytest.mark.usefixtures("session")

K = MerchantAccountKind
ELEMENT = Instrument(payment_method_id="pm_card_visa")


@pytest.fixture
def one_account(
    app: Any, wire: FakeStripe, accounts: dict[MerchantAccountKind, MerchantAccount]
) -> FakeStripe:
    """Trust a Connect (destination) account of the platform: one Stripe account for both."""
    app.config["STRIPE_ACCOUNTS"] = {str(accounts[K.TRUST].id): {"connect_account": "acct_t1"}}
    wire.router = saving_router
    return wire


def _paths(wire: FakeStripe) -> list[str]:
    return [s.path for s in wire.posts()]


def _intents(wire: FakeStripe) -> list[Sent]:
    return [s for s in wire.posts() if s.path == "/v1/payment_intents"]


def test_two_charges_attach_the_card_to_one_customer_then_both_intents_use_it(
    book: Book, one_account: FakeStripe
) -> None:
    # when an invoice and a trust deposit are paid with one card from the Payment Element
    payment = pay(
        book, invoices={book.old.id: 10_000}, trust={book.matter.id: 20_000}, instrument=ELEMENT
    )

    # then a Customer is made once and the card attached to it, before any PaymentIntent
    assert _paths(one_account) == [
        "/v1/customers",
        "/v1/payment_methods/pm_card_visa/attach",
        "/v1/payment_intents",
        "/v1/payment_intents",
    ]
    customer, attach, *intents = one_account.posts()
    assert customer.form == {"name": "Ada Client", "email": "ada@example.com"}
    assert customer.header("Idempotency-Key") == f"payment-card:{payment.public_id}:customer"
    assert attach.form == {"customer": "cus_fake_1"}
    assert attach.header("Idempotency-Key") == f"payment-card:{payment.public_id}:attach"
    # and both charges use the attached card through that Customer, each with its own key
    for intent in intents:
        assert (intent.form["payment_method"], intent.form["customer"]) == (
            "pm_card_visa",
            "cus_fake_1",
        )
        assert "setup_future_usage" not in intent.form
        assert "off_session" not in intent.form
    assert sorted(i.form.get("transfer_data[destination]", "") for i in intents) == [
        "",
        "acct_t1",
    ]
    keys = {i.header("Idempotency-Key") for i in intents}
    assert keys == {f"charge-create:{c.public_id}" for c in payment.charges}
    assert [c.status for c in payment.charges] == [ChargeStatus.SUCCEEDED] * 2


def test_the_same_payment_asked_again_makes_no_second_customer_nor_charge(
    book: Book, one_account: FakeStripe
) -> None:
    baskets = {"invoices": {book.old.id: 10_000}, "trust": {book.matter.id: 20_000}}
    first = pay(book, **baskets, instrument=ELEMENT, key="k-shared-again")  # type: ignore[arg-type]
    sent = len(one_account.sent)

    again = pay(book, **baskets, instrument=ELEMENT, key="k-shared-again")  # type: ignore[arg-type]

    assert again.id == first.id
    assert len(one_account.sent) == sent  # nothing asked of Stripe again
    # and a second attempt at the same payment's card asks with the same keys (Stripe
    # answers them with the first Customer and attachment)
    charging.shared_card(first, ELEMENT, name="Ada Client", email=None, ip=None)
    customers = [s for s in one_account.posts() if s.path == "/v1/customers"]
    assert [c.header("Idempotency-Key") for c in customers] == [
        f"payment-card:{first.public_id}:customer"
    ] * 2


def test_a_customer_create_retried_by_the_sdk_keeps_its_key(
    book: Book, one_account: FakeStripe
) -> None:
    busy = (500, {"error": {"type": "api_error", "message": "try again"}})
    one_account._answers.append(busy)  # the first call, the Customer's create, fails once

    payment = pay(
        book, invoices={book.old.id: 10_000}, trust={book.matter.id: 20_000}, instrument=ELEMENT
    )

    creates = [s for s in one_account.posts() if s.path == "/v1/customers"]
    assert len(creates) == 2  # the SDK's retry
    assert {c.header("Idempotency-Key") for c in creates} == {
        f"payment-card:{payment.public_id}:customer"
    }
    assert [c.status for c in payment.charges] == [ChargeStatus.SUCCEEDED] * 2


def test_one_charge_needs_no_customer(book: Book, one_account: FakeStripe) -> None:
    pay(book, invoices={book.old.id: 10_000}, instrument=ELEMENT)

    (intent,) = one_account.posts()
    assert intent.path == "/v1/payment_intents"
    assert intent.form["payment_method"] == "pm_card_visa"
    assert "customer" not in intent.form


def test_two_stripe_accounts_are_not_attached_across(
    app: Any, book: Book, wire: FakeStripe, accounts: dict[MerchantAccountKind, MerchantAccount]
) -> None:
    app.config["STRIPE_ACCOUNTS"] = {
        str(accounts[K.TRUST].id): {
            "secret_key": "sk_test_matterpay_trust_own_account",
            "trust_fees_billed_elsewhere": True,
        }
    }
    wire.router = saving_router

    pay(book, invoices={book.old.id: 10_000}, trust={book.matter.id: 20_000}, instrument=ELEMENT)

    assert _paths(wire) == ["/v1/payment_intents"] * 2
    assert all("customer" not in s.form for s in wire.posts())


def test_a_card_stripe_will_not_attach_fails_the_payment_before_any_charge(
    book: Book, one_account: FakeStripe
) -> None:
    def refuse(sent: Sent) -> tuple[int, dict[str, Any]]:
        if sent.path.endswith("/attach"):
            error = {"type": "card_error", "code": "card_declined", "message": "Declined."}
            return 402, {"error": error}
        return saving_router(sent)

    one_account.router = refuse

    payment = pay(
        book, invoices={book.old.id: 10_000}, trust={book.matter.id: 20_000}, instrument=ELEMENT
    )

    # charged as it came, the first could succeed and the second be refused: half a payment
    assert _paths(one_account) == ["/v1/customers", "/v1/payment_methods/pm_card_visa/attach"]
    assert _intents(one_account) == []
    assert {c.status for c in payment.charges} == {ChargeStatus.FAILED}
    assert {c.failure_code for c in payment.charges} == {"card_declined"}
    assert {c.gateway_ref for c in payment.charges} == {None}
    # nothing stays held: the payer tries again at once, the card attaches, both are paid
    one_account.router = saving_router
    again = pay(
        book, invoices={book.old.id: 10_000}, trust={book.matter.id: 20_000}, instrument=ELEMENT
    )
    assert {c.status for c in again.charges} == {ChargeStatus.SUCCEEDED}


def test_no_answer_to_the_attach_fails_the_payment_before_any_charge(
    book: Book, one_account: FakeStripe
) -> None:
    def down(sent: Sent) -> tuple[int, dict[str, Any]]:
        if sent.path.endswith("/attach"):
            return 500, {"error": {"type": "api_error", "message": "Something broke."}}
        return saving_router(sent)

    one_account.router = down

    payment = pay(
        book, invoices={book.old.id: 10_000}, trust={book.matter.id: 20_000}, instrument=ELEMENT
    )

    assert _intents(one_account) == []
    assert {c.status for c in payment.charges} == {ChargeStatus.FAILED}
    assert {c.failure_code for c in payment.charges} == {"processing_error"}


# -- setup_future_usage ----------------------------------------------------------------------


def _kept(firm: Any, scope: ConsentScope) -> Any:
    client = factories.client(firm)
    payer = payers.add_payer(firm_id=firm.id, client=client, name="Ada Parent", email=None)
    return payers.save_method(
        payer=payer,
        kind=MethodKind.CARD,
        instrument=Instrument(payment_method_id="pm_card_visa"),
        currency="USD",
        consent=payers.ConsentGiven(words="I agree.", how=ConsentHow.STAFF_PHONE, scope=scope),
    )


@pytest.mark.parametrize(
    ("scope", "setup_future", "off_session", "expected"),
    [
        (ConsentScope.FUTURE_FIRM_INITIATED, True, False, "off_session"),
        (ConsentScope.THIS_PAYMENT, True, False, None),
        (ConsentScope.FUTURE_FIRM_INITIATED, False, False, None),
        (ConsentScope.FUTURE_FIRM_INITIATED, True, True, None),
    ],
    ids=["first charge, future", "this payment only", "a later charge", "off-session"],
)
def test_setup_future_usage_only_on_the_first_charge_of_a_card_kept_for_the_future(
    firm: Any,
    book: Book,
    one_account: FakeStripe,
    scope: ConsentScope,
    setup_future: bool,
    off_session: bool,
    expected: str | None,
) -> None:
    method = _kept(firm, scope)
    instrument = payers.instrument_for(method, off_session=off_session, setup_future=setup_future)

    pay(book, invoices={book.old.id: 10_000}, trust={book.matter.id: 20_000}, instrument=instrument)

    intents = _intents(one_account)
    assert len(intents) == 2
    assert [s.form.get("setup_future_usage") for s in intents] == [expected, expected]
    assert all(s.form["customer"] == "cus_fake_1" for s in intents)
    # the kept card has its Customer already: no other is made for the payment
    assert len([s for s in one_account.posts() if s.path == "/v1/customers"]) == 1


# -- localstripe -----------------------------------------------------------------------------


def test_localstripe_takes_both_charges_with_the_attached_card(
    app: Any,
    book: Book,
    accounts: dict[MerchantAccountKind, MerchantAccount],
    on_localstripe: LocalStripe,
) -> None:
    # trust on the platform's own key (fees billed elsewhere): localstripe has no Connect
    trust = {"secret_key": SECRET_KEY, "trust_fees_billed_elsewhere": True}
    app.config["STRIPE_ACCOUNTS"] = {str(accounts[K.TRUST].id): trust}
    card = on_localstripe.card("4242424242424242")

    payment = pay(
        book,
        invoices={book.old.id: 10_000},
        trust={book.matter.id: 20_000},
        instrument=Instrument(payment_method_id=card),
    )

    assert [c.status for c in payment.charges] == [ChargeStatus.SUCCEEDED] * 2
    customer = on_localstripe.api.v1.payment_methods.retrieve(card).customer
    assert customer
    for charge in payment.charges:
        assert charge.gateway_ref is not None
        assert on_localstripe.intent(charge.gateway_ref)["customer"] == customer
