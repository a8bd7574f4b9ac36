"""The console's Links & trust requests page: a client's links with their state and emails,
create-and-send, revoke one or all; trust requests listed, created, emailed, canceled; role
gates and another firm's ids."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.db import db
from portal.links.models import DeliveryOrigin, Link, LinkDelivery
from portal.mail.models import OutgoingEmail
from portal.trust_requests import services as trust
from portal.trust_requests.models import TrustRequest, TrustRequestKind, TrustRequestStatus
from tests import factories
from tests.api.payment_books import make_book
from tests.clocks import Clock
from tests.conftest import APIClient
from tests.console.conftest import Console, Person, make_person
from tests.payments.conftest import Book

PAGE = "/console/links"


@pytest.fixture
def book(firm: factories.FirmWithKey, frozen_clock: Clock) -> Book:
    return make_book(firm)


def _request(firm: factories.FirmWithKey) -> TrustRequest:
    created, _ = trust.create_request(
        firm_id=firm.id,
        new=trust.NewRequest(
            matter="M-1", amount_minor=250_000, currency="USD", kind=TrustRequestKind.RETAINER
        ),
    )
    return created


def test_the_page_lists_links_and_trust_requests(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    request = _request(firm)
    console.sign_in_as(staffer)

    page = console.get(f"{PAGE}?client=C-1")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert book.link.public_id in html and "Active" in html
    assert request.public_id in html and "$2,500.00" in html
    # the unpaid report lists it with its client and age
    assert 'id="unpaid"' in html and "<td>C-1</td>" in html
    assert "Revoke all of this client" in html


def test_creating_and_sending_a_link(
    console: Console, staffer: Person, book: Book, api: APIClient
) -> None:
    console.sign_in_as(staffer)

    response = console.post(
        f"{PAGE}/new",
        {"client": "C-1", "matters": "M-1", "expires_in": "4", "send": "y", "message": "Hello"},
        form_page=PAGE,
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    link = db.session.scalars(select(Link).order_by(Link.id.desc())).first()
    assert link is not None and link.id != book.link.id
    assert [m.external_id for m in link.matters] == ["M-1"]
    assert "/l/" in html and "It is being emailed to" in html
    assert db.session.scalar(
        select(OutgoingEmail).where(OutgoingEmail.recipients == book.client.email)
    )
    # the delivery says the console sent it (the API's own sends stay "api")
    (delivery,) = db.session.scalars(select(LinkDelivery).where(LinkDelivery.link_id == link.id))
    assert delivery.origin is DeliveryOrigin.CONSOLE
    listed = api.get(f"/api/v1/links/{link.public_id}").get_json()
    assert [d["origin"] for d in listed["deliveries"]] == ["console"]
    # the address is not shown again
    assert "It is being emailed to" not in console.get(PAGE).get_data(as_text=True)


def test_a_bad_link_form_keeps_what_was_typed(
    console: Console, staffer: Person, book: Book
) -> None:
    console.sign_in_as(staffer)
    response = console.post(
        f"{PAGE}/new", {"client": "C-404", "matters": "M-9", "send": ""}, form_page=PAGE
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "does not exist" in html and 'value="C-404"' in html


def test_revoking_one_and_all_links(console: Console, staffer: Person, book: Book) -> None:
    second = factories.link(book.client)
    console.sign_in_as(staffer)

    one = console.post(f"{PAGE}/{book.link.public_id}/revoke", {}, form_page=PAGE)
    assert one.status_code == 303
    db.session.refresh(book.link)
    assert book.link.revoked_at is not None
    assert second.revoked_at is None

    every = console.post(f"{PAGE}/revoke-all", {"client": "C-1"}, form_page=PAGE)
    assert every.status_code == 303
    db.session.refresh(second)
    assert second.revoked_at is not None
    assert "1 link(s) of C-1 revoked." in console.get(PAGE).get_data(as_text=True)
    # no client (or a NUL in it): the page says so
    for client in ("", "C-\x00"):
        refused = console.post(f"{PAGE}/revoke-all", {"client": client}, form_page=PAGE)
        assert refused.status_code == 422
        assert "Enter the client" in refused.get_data(as_text=True)


def test_creating_emailing_and_canceling_a_trust_request(
    console: Console, staffer: Person, book: Book
) -> None:
    console.sign_in_as(staffer)
    created = console.post(
        "/console/trust-requests/new",
        {
            "matter": "M-1",
            "amount": "1,250.50",
            "currency": "USD",
            "kind": "replenishment",
            "due_on": "",
            "memo": "Top-up",
            "send": "",
        },
        form_page=PAGE,
    )
    assert created.status_code == 303, created.get_data(as_text=True)
    request = db.session.scalar(select(TrustRequest))
    assert request is not None and request.amount_minor == 125_050
    assert request.kind is TrustRequestKind.REPLENISHMENT and request.emailed_at is None

    sent = console.post(f"/console/trust-requests/{request.public_id}/send", {}, form_page=PAGE)
    assert sent.status_code == 303
    db.session.refresh(request)
    assert request.emailed_at is not None

    canceled = console.post(
        f"/console/trust-requests/{request.public_id}/cancel", {}, form_page=PAGE
    )
    assert canceled.status_code == 303
    db.session.refresh(request)
    assert request.status is TrustRequestStatus.CANCELED
    assert "canceled" in console.get(PAGE).get_data(as_text=True)


def test_a_bad_trust_request_comes_back_with_the_errors(
    console: Console, staffer: Person, book: Book
) -> None:
    console.sign_in_as(staffer)
    response = console.post(
        "/console/trust-requests/new",
        {"matter": "M-404", "amount": "12x", "currency": "USD", "kind": "retainer"},
        form_page=PAGE,
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter an amount such as" in html and 'value="12x"' in html
    unknown = console.post(
        "/console/trust-requests/new",
        {"matter": "M-404", "amount": "12", "currency": "USD", "kind": "retainer"},
        form_page=PAGE,
    )
    assert unknown.status_code == 422
    assert "The firm has no matter with this id." in unknown.get_data(as_text=True)


def test_signed_out_is_sent_to_sign_in(console: Console) -> None:
    assert console.get(PAGE).status_code == 302
    answer = console.post(f"{PAGE}/new", {"client": "C-1"}, form_page="/console/sign-in")
    assert answer.status_code == 302


def test_another_firms_ids_are_not_found(
    console: Console,
    book: Book,
    firm: factories.FirmWithKey,
    other_firm: factories.FirmWithKey,
) -> None:
    request = _request(firm)
    console.sign_in_as(make_person(other_firm, "eve@brandt.example", role="staff"))
    assert (
        console.post(f"{PAGE}/{book.link.public_id}/revoke", {}, form_page=PAGE).status_code == 404
    )
    for action in ("send", "cancel"):
        path = f"/console/trust-requests/{request.public_id}/{action}"
        assert console.post(path, {}, form_page=PAGE).status_code == 404, action
    html = console.get(PAGE).get_data(as_text=True)
    assert book.link.public_id not in html and request.public_id not in html
    # revoking "all" of another firm's client revokes nothing
    console.post(f"{PAGE}/revoke-all", {"client": "C-1"}, form_page=PAGE)
    db.session.refresh(book.link)
    assert book.link.revoked_at is None
