"""Going live on Stripe through the API: PATCH a merchant account onto a connected account of the
platform (checked at Stripe on save), charge through it, the refusals (422/409/503), and the
onboarding link. Stripe's Connect answers come from the SDK's HTTP seam (localstripe has no
Connect); a charge also runs against localstripe."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways.base import Instrument
from portal.gateways.stripe import HTTP_CLIENT_EXTENSION
from portal.payments.models import ChargeStatus
from tests.api.conftest import pointers
from tests.conftest import APIClient
from tests.gateways.conftest import (
    SECRET_KEY,
    FakeStripe,
    LocalStripe,
    Sent,
    _routed,
    intent_answer,
    merchant_accounts,
)
from tests.payments.conftest import Book, pay

S = ChargeStatus
BASE = "/api/v1/merchant-accounts"


def connected(**accounts: bool) -> Any:
    """Route /v1/accounts/<id> to the given accounts (id -> charges_enabled); 404 otherwise."""

    def answer(sent: Sent) -> tuple[int, dict[str, Any]]:
        if sent.path.startswith("/v1/accounts/") and sent.method == "GET":
            account_id = sent.path.rsplit("/", 1)[-1]
            if account_id in accounts:
                enabled = accounts[account_id]
                return 200, {
                    "id": account_id,
                    "object": "account",
                    "charges_enabled": enabled,
                    "details_submitted": enabled,
                }
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such account: '{account_id}'",
                }
            }
        return _routed(sent)

    return answer


def patch(api: APIClient, account: MerchantAccount, body: Any) -> Any:
    return api.client.patch(
        f"{BASE}/{account.public_id}", json=body, headers={"Authorization": f"Bearer {api.key}"}
    )


@pytest.fixture
def kinds(book: Book) -> dict[MerchantAccountKind, MerchantAccount]:
    return merchant_accounts(book.link.firm_id)


def test_an_operating_account_goes_live_and_charges_at_stripe_as_a_direct_charge(
    api: APIClient, book: Book, kinds, wire: FakeStripe, session
) -> None:
    operating = kinds[MerchantAccountKind.OPERATING]
    wire.router = connected(acct_1Operating=True)
    # when
    response = patch(api, operating, {"gateway": "stripe", "stripe_account": "acct_1Operating"})
    # then Stripe was asked, with the platform key, whether the account can take charges
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["gateway"], response.get_json()["stripe_account"]) == (
        "stripe",
        "acct_1Operating",
    )
    (asked,) = wire.sent
    assert (asked.method, asked.path) == ("GET", "/v1/accounts/acct_1Operating")
    assert asked.header("Authorization") == f"Bearer {SECRET_KEY}"
    assert SECRET_KEY not in response.get_data(as_text=True)
    # and the change is audited
    fields = session.scalars(
        select(AuditEvent.field).where(AuditEvent.entity_id == operating.public_id)
    ).all()
    assert sorted(fields) == ["gateway", "stripe_account"]
    # when the client pays an invoice
    payment = pay(
        book, invoices={book.old.id: 120_000}, instrument=Instrument(payment_method_id="pm_x")
    )
    # then the charge went through the Stripe gateway on the connected account
    (charge,) = payment.charges
    assert (charge.gateway, charge.status) == ("stripe", S.SUCCEEDED)
    created = wire.posts()[-1]
    assert created.path == "/v1/payment_intents"
    assert created.header("Stripe-Account") == "acct_1Operating"
    assert "transfer_data[destination]" not in created.form


def test_a_trust_account_goes_live_as_a_destination_charge(
    api: APIClient, book: Book, kinds, wire: FakeStripe
) -> None:
    trust = kinds[MerchantAccountKind.TRUST]
    wire.router = connected(acct_1Trust=True)
    response = patch(api, trust, {"gateway": "stripe", "stripe_account": "acct_1Trust"})
    assert response.status_code == 200, response.get_json()
    payment = pay(
        book, trust={book.matter.id: 50_000}, instrument=Instrument(payment_method_id="pm_x")
    )
    (charge,) = payment.charges
    assert (charge.gateway, charge.status) == ("stripe", S.SUCCEEDED)
    created = wire.posts()[-1]
    # Charged on the platform, the whole amount moved to trust: fees never touch trust.
    assert created.header("Stripe-Account") is None
    assert created.form["transfer_data[destination]"] == "acct_1Trust"
    assert created.form["transfer_data[amount]"] == "50000"
    assert created.form["on_behalf_of"] == "acct_1Trust"


@pytest.mark.parametrize(
    ("accounts", "stripe_account", "reason"),
    [
        ({}, "acct_1Missing", "knows no account acct_1Missing"),
        ({"acct_1Pending": False}, "acct_1Pending", "cannot take charges yet"),
    ],
)
def test_an_unusable_connected_account_is_a_422_naming_it(
    api: APIClient, kinds, wire: FakeStripe, session, accounts, stripe_account, reason
) -> None:
    operating = kinds[MerchantAccountKind.OPERATING]
    wire.router = connected(**accounts)
    response = patch(
        api,
        operating,
        {"gateway": "stripe", "stripe_account": stripe_account, "label": "Live"},
    )
    assert response.status_code == 422
    assert pointers(response) == ["/stripe_account"]
    assert reason in response.get_json()["errors"][0]["detail"]
    session.refresh(operating)
    assert (operating.gateway, operating.stripe_account, operating.label) == (
        "sandbox",
        None,
        "Operating account",
    )
    assert session.scalars(select(AuditEvent)).first() is None


def test_stripe_unreachable_is_a_503_and_nothing_is_saved(
    api: APIClient, kinds, wire: FakeStripe, session
) -> None:
    operating = kinds[MerchantAccountKind.OPERATING]
    down = (503, {"error": {"type": "api_error", "message": "down"}})
    wire.router = lambda sent: down
    response = patch(api, operating, {"gateway": "stripe", "stripe_account": "acct_1Operating"})
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert "nothing was saved" in response.get_json()["detail"]
    assert len(wire.sent) == 3  # the SDK's retries, then the answer
    session.refresh(operating)
    assert (operating.gateway, operating.stripe_account) == ("sandbox", None)


def test_back_to_the_sandbox_waits_for_stripe_payments_in_flight(
    api: APIClient, book: Book, kinds, wire: FakeStripe, session
) -> None:
    operating = kinds[MerchantAccountKind.OPERATING]
    wire.router = connected(acct_1Operating=True)
    assert (
        patch(
            api, operating, {"gateway": "stripe", "stripe_account": "acct_1Operating"}
        ).status_code
        == 200
    )
    # given a payment still processing at Stripe
    wire.router = intent_answer("processing")
    payment = pay(
        book, invoices={book.old.id: 120_000}, instrument=Instrument(payment_method_id="pm_x")
    )
    (charge,) = payment.charges
    assert charge.status is S.PROCESSING
    # when the firm switches back to the sandbox
    response = patch(api, operating, {"gateway": "sandbox"})
    # then it is refused, saying why
    assert response.status_code == 409
    assert "in flight" in response.get_json()["detail"]
    session.refresh(operating)
    assert operating.gateway == "stripe"
    # and once the payment has settled, it may
    charge.status = S.SUCCEEDED
    session.flush()
    assert patch(api, operating, {"gateway": "sandbox"}).status_code == 200


def test_onboarding_creates_the_connected_account_once_and_answers_a_link(
    api: APIClient, kinds, wire: FakeStripe, session
) -> None:
    trust = kinds[MerchantAccountKind.TRUST]

    def stripe(sent: Sent) -> tuple[int, dict[str, Any]]:
        if sent.path == "/v1/accounts":
            return 200, {"id": "acct_1New", "object": "account", "charges_enabled": False}
        if sent.path == "/v1/account_links":
            return 200, {
                "object": "account_link",
                "url": f"https://connect.stripe.com/setup/e/{sent.form['account']}/x{len(wire.sent)}",
                "expires_at": 1,
            }
        return _routed(sent)

    wire.router = stripe
    url = f"{BASE}/{trust.public_id}/stripe-onboarding"
    # when
    response = api.post(url)
    # then
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["url"].startswith("https://connect.stripe.com/setup/e/acct_1New/")
    assert (body["stripe_account"], body["created"]) == ("acct_1New", True)
    # the account is stored, but stays on the sandbox until it is verified
    assert body["merchant_account"]["gateway"] == "sandbox"
    create, link = wire.posts()
    assert create.form["controller[fees][payer]"] == "application"
    assert create.form["metadata[merchant_account]"] == trust.public_id
    assert link.form["type"] == "account_onboarding"
    assert link.form["return_url"] == "http://localhost/hooks/stripe/onboarding"
    assert link.form["refresh_url"] == "http://localhost/hooks/stripe/onboarding?expired=1"
    # when asked again (the link expired), no second account is created
    again = api.post(url, json={"return_url": "https://firm.example/done"})
    assert again.get_json()["created"] is False
    assert [sent.path for sent in wire.posts()][-1] == "/v1/account_links"
    assert len([s for s in wire.posts() if s.path == "/v1/accounts"]) == 1
    assert wire.posts()[-1].form["return_url"] == "https://firm.example/done"
    assert session.scalars(
        select(AuditEvent.after).where(AuditEvent.action == "merchant_account.stripe_onboarding")
    ).all() == ["acct_1New"]


def test_the_onboarding_return_page(client) -> None:
    assert "You are back from Stripe" in client.get("/hooks/stripe/onboarding").get_data(
        as_text=True
    )


def test_the_onboarding_expired_page_in_spanish(client) -> None:
    page = client.get("/hooks/stripe/onboarding?expired=1", headers={"Accept-Language": "es"})
    assert page.status_code == 200
    assert "expirado" in page.get_data(as_text=True)


def test_a_switched_account_charges_at_localstripe(
    app: Flask, api: APIClient, book: Book, kinds, wire: FakeStripe, on_localstripe: LocalStripe
) -> None:
    operating = kinds[MerchantAccountKind.OPERATING]
    # given the account put on Stripe (the check answered by the seam: localstripe has no
    # Connect)
    wire.router = connected(acct_1Operating=True)
    response = patch(api, operating, {"gateway": "stripe", "stripe_account": "acct_1Operating"})
    assert response.status_code == 200
    app.extensions.pop(HTTP_CLIENT_EXTENSION)
    # when the client pays at localstripe
    payment = pay(
        book,
        invoices={book.old.id: 120_000},
        instrument=Instrument(payment_method_id="pm_card_visa"),
    )
    # then
    (charge,) = payment.charges
    assert (charge.gateway, charge.status) == ("stripe", S.SUCCEEDED)
    assert charge.gateway_ref
    intent = on_localstripe.intent(charge.gateway_ref)
    assert intent["status"] == "succeeded"
    assert json.loads(json.dumps(intent["metadata"]))["merchant_account"] == str(operating.id)


def test_events_for_an_unknown_public_id_are_not_found(client) -> None:
    response = client.post("/hooks/stripe/ma_nothing", data=b"{}")
    assert response.status_code == 404
