"""POST /api/v1/payments (a saved method, off-session) and a client's saved payment methods."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit.services import SYSTEM
from portal.firms import services as firms
from portal.gateways.models import SandboxIntent, SandboxSavedMethod
from portal.links.models import Link, LinkDelivery
from portal.mail.models import OutgoingEmail
from portal.payers import services as payers
from portal.payers.models import ConsentScope, SavedMethod
from portal.payments.models import Charge, Payment, PaymentSource
from tests import factories
from tests.api.payment_books import make_book
from tests.conftest import APIClient
from tests.payers.helpers import ALWAYS_3DS, SETUP_3DS, save, saved_for
from tests.payments.conftest import Book


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey) -> Book:
    return make_book(firm)


def _charge(api: APIClient, method: SavedMethod, lines: list[Any], key: str = "k-1") -> Any:
    body = {
        "client": "C-1",
        "payer": method.payer.public_id,
        "payment_method": method.public_id,
        "lines": lines,
    }
    return api.post("/api/v1/payments", json=body, headers={"Idempotency-Key": key})


def _intents(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SandboxIntent)) or 0


LINES = [{"invoice": "INV-OLD", "amount": 120_000}, {"matter": "M-1", "trust_amount": 50_000}]


def test_a_saved_card_pays_an_invoice_and_a_deposit_once_per_key(
    api: APIClient, book: Book, session: Session
) -> None:
    # given
    method = saved_for(book.client)

    # when
    first = _charge(api, method, LINES)
    again = _charge(api, method, LINES)

    # then
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["status"] == "succeeded"
    assert body["source"] == PaymentSource.STAFF.value
    assert [c["amount"] for c in body["charges"]] == [120_000, 50_000]
    assert [c["merchant_account"]["kind"] for c in body["charges"]] == ["operating", "trust"]
    assert again.status_code == 200
    assert again.get_json()["id"] == body["id"]
    assert _intents(session) == 2  # one per merchant account, and none for the replay
    assert session.scalar(select(func.count()).select_from(Payment)) == 1


def test_the_same_key_for_another_total_is_a_conflict(api: APIClient, book: Book) -> None:
    # given
    method = saved_for(book.client)
    assert _charge(api, method, LINES).status_code == 201

    # when
    response = _charge(api, method, [{"invoice": "INV-NEW", "amount": 10_000}])

    # then
    assert response.status_code == 409
    assert response.get_json()["type"] == "/problems/idempotency-key-reused"


def test_a_method_saved_for_this_payment_only_cannot_be_charged_by_the_firm(
    api: APIClient, book: Book, session: Session
) -> None:
    # given
    method = saved_for(book.client, scope=ConsentScope.THIS_PAYMENT)

    # when
    response = _charge(api, method, LINES)

    # then
    assert response.status_code == 422
    assert response.get_json()["type"] == "/problems/consent-missing"
    assert _intents(session) == 0


def test_another_firms_payer_and_method_are_not_found(
    api: APIClient, book: Book, other_firm: factories.FirmWithKey, session: Session
) -> None:
    # given: the other firm's client has the same external id and a saved card
    stranger = factories.client(other_firm, external_id="C-1")
    theirs = saved_for(stranger)
    mine = saved_for(book.client)

    # when
    with_their_method = api.post(
        "/api/v1/payments",
        json={
            "client": "C-1",
            "payer": mine.payer.public_id,
            "payment_method": theirs.public_id,
            "lines": LINES,
        },
        headers={"Idempotency-Key": "x-1"},
    )
    with_their_payer = api.post(
        "/api/v1/payments",
        json={
            "client": "C-1",
            "payer": theirs.payer.public_id,
            "payment_method": theirs.public_id,
            "lines": LINES,
        },
        headers={"Idempotency-Key": "x-2"},
    )
    listed = api.get("/api/v1/clients/C-1/payment-methods").get_json()["data"]
    deleted = api.delete(f"/api/v1/clients/C-1/payment-methods/{theirs.public_id}")

    # then
    assert (with_their_method.status_code, with_their_payer.status_code) == (404, 404)
    assert [m["id"] for m in listed] == [mine.public_id]
    assert deleted.status_code == 404
    assert _intents(session) == 0


def test_another_clients_method_cannot_pay_unless_its_payer_is_attached(
    api: APIClient, book: Book, firm: factories.FirmWithKey, session: Session
) -> None:
    # given: a parent who pays for a second client
    sibling = factories.client(firm, external_id="C-2")
    parent = payers.add_payer(firm_id=firm.firm.id, client=sibling, name="Pat Parent", email=None)
    method = save(parent)

    # when
    before = _charge(api, method, LINES, key="p-1")
    payers.attach_payer(firm_id=firm.firm.id, payer=parent, client=book.client)
    after = _charge(api, method, LINES, key="p-2")

    # then
    assert before.status_code == 404
    assert after.status_code == 201
    assert after.get_json()["payer_name"] == "Pat Parent"


@pytest.mark.parametrize(
    ("lines", "pointer"),
    [
        ([{"invoice": "INV-OLD", "amount": 120_001}], "/lines/0/amount"),
        ([{"invoice": "INV-NOPE", "amount": 100}], "/lines/0/invoice"),
        ([{"matter": "M-NOPE", "trust_amount": 5_000}], "/lines/0/matter"),
        ([{"invoice": "INV-OLD", "trust_amount": 5_000}], "/lines/0"),
        ([{"invoice": "INV-OLD", "amount": 0}], "/lines/0/amount"),
    ],
)
def test_lines_that_cannot_be_paid_are_refused(
    api: APIClient, book: Book, session: Session, lines: list[Any], pointer: str
) -> None:
    # given
    method = saved_for(book.client)

    # when
    response = _charge(api, method, lines)

    # then
    assert response.status_code == 422, response.get_json()
    assert pointer in [e.get("pointer") for e in response.get_json()["errors"]]
    assert _intents(session) == 0


def test_another_firms_invoice_is_not_a_line_of_this_client(
    api: APIClient, book: Book, other_firm: factories.FirmWithKey, session: Session
) -> None:
    # given
    foreign = factories.matter(factories.client(other_firm, external_id="C-9"), external_id="M-9")
    factories.invoice(foreign, external_id="INV-9", total_minor=10_000)
    method = saved_for(book.client)

    # when
    response = _charge(api, method, [{"invoice": "INV-9", "amount": 10_000}])

    # then
    assert response.status_code == 422
    assert _intents(session) == 0


def test_when_the_bank_asks_for_the_payer_it_fails_and_the_client_gets_a_link(
    api: APIClient, book: Book, session: Session
) -> None:
    # given
    method = saved_for(book.client, ALWAYS_3DS)

    # when
    response = _charge(api, method, [{"invoice": "INV-OLD", "amount": 120_000}])

    # then
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "failed"
    assert body["charges"][0]["failure_code"] == "authentication_required"
    charge = session.scalar(select(Charge))
    assert charge is not None and charge.refunded_minor == 0
    delivery = session.scalar(select(LinkDelivery))
    assert delivery is not None and delivery.recipient == book.client.email
    link = session.get(Link, delivery.link_id)
    assert link is not None and link.client_id == book.client.id
    email = session.scalar(select(OutgoingEmail).where(OutgoingEmail.kind == "link"))
    assert email is not None
    assert b"confirm a payment" in email.message
    assert book.old.reserved_minor == 0


def test_a_card_that_asks_only_on_session_is_charged_off_session(
    api: APIClient, book: Book
) -> None:
    # given
    method = saved_for(book.client, SETUP_3DS)

    # when
    response = _charge(api, method, [{"invoice": "INV-OLD", "amount": 120_000}])

    # then
    assert response.get_json()["status"] == "succeeded"


def test_list_and_delete_saved_methods(api: APIClient, book: Book, session: Session) -> None:
    # given
    method = saved_for(book.client)

    # when
    listed = api.get("/api/v1/clients/C-1/payment-methods")
    deleted = api.delete(f"/api/v1/clients/C-1/payment-methods/{method.public_id}")
    again = api.delete(f"/api/v1/clients/C-1/payment-methods/{method.public_id}")
    after = api.get("/api/v1/clients/C-1/payment-methods")
    charged = _charge(api, method, LINES)

    # then
    assert listed.status_code == 200
    (shown,) = listed.get_json()["data"]
    assert shown["id"] == method.public_id
    assert (shown["brand"], shown["last4"], shown["exp_month"], shown["exp_year"]) == (
        "visa",
        "4242",
        12,
        2040,
    )
    assert shown["payer"]["is_client"] is True
    assert shown["consent"]["scope"] == "future_firm_initiated"
    assert shown["consent"]["how"] == "client_pay_page"
    assert shown["expiring"] is False
    assert "4242424242424242" not in listed.get_data(as_text=True)
    assert deleted.status_code == 204
    assert again.status_code == 404
    assert after.get_json()["data"] == []
    assert charged.status_code == 404
    # detached at the (sandbox) processor too, at each account it was saved at
    tokens = session.scalars(select(SandboxSavedMethod)).all()
    assert len(tokens) == 2 and all(t.detached_at is not None for t in tokens)


def test_a_key_without_the_charge_scope_may_list_but_not_charge(
    client: Any, book: Book, firm: factories.FirmWithKey
) -> None:
    # given
    key = firms.issue_api_key(
        firm.firm, label="reader", actor=SYSTEM, scopes=["payments:read"]
    ).secret
    reader = APIClient(client, key)
    method = saved_for(book.client)

    # when
    listed = reader.get("/api/v1/clients/C-1/payment-methods")
    charged = _charge(reader, method, LINES)

    # then
    assert listed.status_code == 200
    assert charged.status_code == 403
