"""Make a payment, step 4a, "Save payer" on Stripe accounts, through the Flask test client and
the SDK's HTTP seam: the card staff type into Stripe's Payment Element arrives as its
PaymentMethod id only, is kept on a Customer (created, then the method attached) with the
consent read by phone, and charged as a mail/telephone order; a later payment charges the
saved card off-session. Operating and trust on one Stripe account share the kept card; on
separate Stripe accounts, a card is kept only where its key made it, and the page and the
errors say which part needs the other account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from portal.db import db
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways.stripe import HTTP_CLIENT_EXTENSION
from portal.payers.models import ConsentHow, ConsentScope, Payer
from portal.payments.models import Payment
from tests import factories
from tests.console.conftest import Console, Person
from tests.console.test_make_payment_saved import FUTURE_WORDS, _choices, _pay, _step4, book
from tests.gateways.conftest import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    Sent,
    saving_router,
)
from tests.payments.conftest import Book

__all__ = ["book"]

TRUST_KEY = "sk_test_matterpay_trust_own_account"


def _accounts(firm: factories.FirmWithKey) -> dict[MerchantAccountKind, MerchantAccount]:
    return {account.kind: account for account in firm.firm.merchant_accounts}


def _wire(app: Flask, firm: factories.FirmWithKey, trust: dict[str, object]) -> FakeStripe:
    accounts = _accounts(firm)
    app.config.update(
        STRIPE_API_BASE="https://api.stripe.com",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_ACCOUNTS={str(accounts[MerchantAccountKind.TRUST].id): trust},
    )
    for account in accounts.values():
        account.gateway = "stripe"
    fake = FakeStripe()
    fake.router = saving_router
    app.extensions[HTTP_CLIENT_EXTENSION] = fake
    return fake


@pytest.fixture
def one_account(app: Flask, firm: factories.FirmWithKey) -> Iterator[FakeStripe]:
    """Operating on the platform's key, trust a Connect account of it: one Stripe account."""
    yield _wire(app, firm, {"connect_account": "acct_trust_1"})
    app.extensions.pop(HTTP_CLIENT_EXTENSION, None)


@pytest.fixture
def two_accounts(app: Flask, firm: factories.FirmWithKey) -> Iterator[FakeStripe]:
    """Trust with its own Stripe account (its own keys): two Stripe accounts."""
    trust = {
        "secret_key": TRUST_KEY,
        "publishable_key": "pk_test_matterpay_trust_own_account",
        "trust_fees_billed_elsewhere": True,
    }
    yield _wire(app, firm, trust)
    app.extensions.pop(HTTP_CLIENT_EXTENSION, None)


def _posts(wire: FakeStripe, path: str) -> list[Sent]:
    return [s for s in wire.posts() if s.path.startswith(path)]


def _save_by_element(console: Console, book: Book) -> object:
    page = _step4(console, book, {f"invoice-{book.old.id}": "100.00"}, [f"invoice-{book.old.id}"])
    assert 'id="save-payer-stripe"' in page
    _, answer = _pay(
        console,
        page,
        payer_name="Ada Parent",
        payer_email="ada.parent@example.com",
        method="card",
        payment_method_id="pm_card_visa",
        save_payer="yes",
        consent_scope="future_firm_initiated",
    )
    return answer


def test_save_payer_keeps_the_elements_card_on_a_customer_then_charges_it_again(
    console: Console,
    staffer: Person,
    book: Book,
    firm: factories.FirmWithKey,
    one_account: FakeStripe,
) -> None:
    console.sign_in_as(staffer)

    # when
    answer = _save_by_element(console, book)

    # then the card is kept once on one Customer, and charged as a phone order
    assert answer.status_code == 303, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    (customer,) = _posts(one_account, "/v1/customers")
    assert customer.form == {"name": "Ada Parent", "email": "ada.parent@example.com"}
    (attach,) = _posts(one_account, "/v1/payment_methods")
    assert attach.path == "/v1/payment_methods/pm_card_visa/attach"
    assert attach.form == {"customer": "cus_fake_1"}
    (intent,) = _posts(one_account, "/v1/payment_intents")
    assert intent.form["payment_method"] == "pm_card_visa"
    assert intent.form["customer"] == "cus_fake_1"
    assert intent.form["payment_method_options[card][moto]"] == "true"
    assert "off_session" not in intent.form
    # kept for payments the firm starts: this first charge sets the card up for them
    assert intent.form["setup_future_usage"] == "off_session"
    first = db.session.scalars(select(Payment)).one()
    assert [c.status.value for c in first.charges] == ["succeeded"]
    payer = db.session.scalars(select(Payer).where(Payer.name == "Ada Parent")).one()
    (method,) = payer.methods
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "visa",
        "4242",
        12,
        2040,
    )
    accounts = _accounts(firm)
    assert sorted(
        (t.merchant_account_id, t.customer_ref, t.method_ref) for t in method.tokens
    ) == sorted((a.id, "cus_fake_1", "pm_card_visa") for a in accounts.values())
    (consent,) = method.consents
    assert consent.words == FUTURE_WORDS.format(firm=firm.firm.name, total="$100.00")
    assert (consent.scope, consent.how, consent.staff_user_id) == (
        ConsentScope.FUTURE_FIRM_INITIATED,
        ConsentHow.STAFF_PHONE,
        staffer.user.id,
    )

    # when the next call pays an invoice and a trust deposit with the saved card
    page = _step4(
        console,
        book,
        {f"invoice-{book.old.id}": "200.00", f"trust-{book.matter.id}": "300.00"},
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )
    choice = f"{payer.public_id}:{method.public_id}"
    assert _choices(page) == [choice, "new"]
    _, again = _pay(console, page, payer_choice=choice)

    # then both parts are charged off-session to the one kept card, nothing kept again
    assert again.status_code == 303, again.get_data(as_text=True)  # type: ignore[attr-defined]
    assert len(_posts(one_account, "/v1/customers")) == 1
    assert len(_posts(one_account, "/v1/payment_methods")) == 1
    _first, *later = _posts(one_account, "/v1/payment_intents")
    assert len(later) == 2
    for sent in later:
        assert (sent.form["customer"], sent.form["payment_method"]) == (
            "cus_fake_1",
            "pm_card_visa",
        )
        assert sent.form["off_session"] == "true"
        assert "payment_method_options[card][moto]" not in sent.form
        assert "setup_future_usage" not in sent.form
    assert sorted(s.form.get("transfer_data[destination]", "") for s in later) == [
        "",
        "acct_trust_1",
    ]
    second = db.session.scalars(select(Payment).order_by(Payment.id.desc())).first()
    assert second is not None and second.total_minor == 50_000
    assert {c.status.value for c in second.charges} == {"succeeded"}


def test_a_card_kept_for_this_payment_only_is_not_set_up_for_later_charges(
    console: Console, staffer: Person, book: Book, one_account: FakeStripe
) -> None:
    console.sign_in_as(staffer)
    page = _step4(
        console,
        book,
        {f"invoice-{book.old.id}": "200.00", f"trust-{book.matter.id}": "300.00"},
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )

    _, answer = _pay(
        console,
        page,
        payer_name="Ada Parent",
        payer_email="ada.parent@example.com",
        method="card",
        payment_method_id="pm_card_visa",
        save_payer="yes",
        consent_scope="this_payment",
    )

    assert answer.status_code == 303, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    intents = _posts(one_account, "/v1/payment_intents")
    assert len(intents) == 2
    for sent in intents:
        assert sent.form["customer"] == "cus_fake_1"
        assert sent.form["payment_method_options[card][moto]"] == "true"
        assert "setup_future_usage" not in sent.form
    assert len(_posts(one_account, "/v1/customers")) == 1  # the kept card's, no other


def test_a_card_stripe_will_not_keep_is_not_saved_nor_charged(
    console: Console, staffer: Person, book: Book, one_account: FakeStripe
) -> None:
    declined = (
        402,
        {
            "error": {
                "type": "card_error",
                "code": "card_declined",
                "message": "Your card was declined.",
            }
        },
    )

    def refuse(sent: Sent) -> tuple[int, dict[str, object]]:
        if sent.path.endswith("/attach"):
            return declined  # type: ignore[return-value]
        return saving_router(sent)

    one_account.router = refuse  # type: ignore[assignment]
    console.sign_in_as(staffer)
    answer = _save_by_element(console, book)
    assert answer.status_code == 422  # type: ignore[attr-defined]
    text = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "could not be saved: Your card was declined." in text
    assert not _posts(one_account, "/v1/payment_intents")
    assert not db.session.scalars(select(Payment)).all()
    payers = db.session.scalars(select(Payer).where(Payer.name == "Ada Parent")).all()
    assert all(not payer.methods for payer in payers)  # the same payer typed again is reused


def test_on_separate_stripe_accounts_a_card_is_kept_only_where_its_key_made_it(
    console: Console,
    staffer: Person,
    book: Book,
    firm: factories.FirmWithKey,
    two_accounts: FakeStripe,
) -> None:
    console.sign_in_as(staffer)
    accounts = _accounts(firm)

    # a payment to both accounts: no one card form can pay it, and the page says so
    both = _step4(
        console,
        book,
        {f"invoice-{book.old.id}": "200.00", f"trust-{book.matter.id}": "300.00"},
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )
    assert 'id="stripe-apart"' in both
    assert "separate Stripe accounts" in both
    assert "data-stripe-payment" not in both
    assert 'name="card_number"' not in both
    _, refused = _pay(
        console,
        both,
        payer_name="Ada Parent",
        method="card",
        payment_method_id="pm_card_visa",
        save_payer="yes",
        consent_scope="future_firm_initiated",
    )
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert not two_accounts.sent
    assert not db.session.scalars(select(Payment)).all()

    # an invoice alone: the card is kept at the operating account's Stripe account only
    saved = _save_by_element(console, book)
    assert saved.status_code == 303, saved.get_data(as_text=True)  # type: ignore[attr-defined]
    assert {s.header("Authorization") for s in two_accounts.sent} == {f"Bearer {SECRET_KEY}"}
    payer = db.session.scalars(select(Payer).where(Payer.name == "Ada Parent")).one()
    (method,) = payer.methods
    assert [t.merchant_account_id for t in method.tokens] == [
        accounts[MerchantAccountKind.OPERATING].id
    ]

    # a later payment with a trust deposit cannot use it: the error names the trust part
    sent_before = len(two_accounts.sent)
    page = _step4(
        console,
        book,
        {f"invoice-{book.old.id}": "200.00", f"trust-{book.matter.id}": "300.00"},
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )
    _, answer = _pay(console, page, payer_choice=f"{payer.public_id}:{method.public_id}")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    text = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "kept at the firm&#39;s operating account only" in text
    assert "Take the trust deposit as a separate payment" in text
    assert len(two_accounts.sent) == sent_before
    assert len(db.session.scalars(select(Payment)).all()) == 1

    # and one to the operating account alone charges it, off-session
    page = _step4(console, book, {f"invoice-{book.old.id}": "50.00"}, [f"invoice-{book.old.id}"])
    _, paid = _pay(console, page, payer_choice=f"{payer.public_id}:{method.public_id}")
    assert paid.status_code == 303, paid.get_data(as_text=True)  # type: ignore[attr-defined]
    last = _posts(two_accounts, "/v1/payment_intents")[-1]
    assert (last.form["customer"], last.form["off_session"]) == ("cus_fake_1", "true")
    assert last.header("Authorization") == f"Bearer {SECRET_KEY}"
