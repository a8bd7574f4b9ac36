"""A client's saved payers in the console, through the Flask test client: the payers and their
methods (brand, last four, expiry, the consent's scope and when, "expires soon" within 30
days), step 4a's link to them, and removing one after a confirmation (CSRF; the same use case
as the API's DELETE: detached at the sandbox processor too; audited with the staff user as the
actor). Another firm's staff never see nor remove them. A client's own removal on its pay page
is in the audit log under the client's external id and name."""

from __future__ import annotations

import re

import pytest
from flask import Flask, g
from sqlalchemy import select

from portal.audit import services as audit
from portal.audit.models import AuditEvent
from portal.db import db
from portal.gateways.base import Instrument
from portal.gateways.models import SandboxSavedMethod
from portal.payers import services as payers
from portal.payers.models import ConsentScope, SavedMethod
from tests import factories
from tests.conftest import APIClient
from tests.console.conftest import BASE_URL, Console, Person, make_person
from tests.console.test_make_payment import _preview, _search, _tick, book
from tests.payers.helpers import save, saved_for
from tests.payments.conftest import Book
from tests.payments.test_views import Browser, choose

__all__ = ["book"]  # the fixture, shared with the other make-payment tests

PAGE = "/console/clients/C-1/payers"
#: Its last valid day (March 31) is within 30 days of the frozen clock's March 16, 2026.
SOON = Instrument(card_number="5555555555554444", card_expiry="03/26", card_cvc="123")


@pytest.fixture
def methods(book: Book) -> tuple[SavedMethod, SavedMethod]:
    """The client's own Visa (future payments) and a parent's Mastercard expiring soon (one
    payment at a time)."""
    own = saved_for(book.client)
    parent = payers.add_payer(
        firm_id=book.client.firm_id, client=book.client, name="Pat Parent", email="pat@example.com"
    )
    soon = save(parent, SOON, scope=ConsentScope.THIS_PAYMENT)
    return own, soon


def _remove_path(method: SavedMethod) -> str:
    return f"/console/clients/C-1/payment-methods/{method.public_id}/remove"


def _row(page: str, method: SavedMethod) -> str:
    found = re.search(rf'<tr id="method-{method.public_id}">(.*?)</tr>', page, re.S)
    assert found, page
    return re.sub(r"\s+", " ", found.group(1))


def test_staff_see_the_payers_methods_consent_and_expiry(
    console: Console, staffer: Person, methods: tuple[SavedMethod, SavedMethod]
) -> None:
    own, soon = methods
    console.sign_in_as(staffer)

    answer = console.get(PAGE)

    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Pat Parent" in page and "pat@example.com" in page
    visa = _row(page, own)
    assert "Visa •••• 4242" in visa and "12/2040" in visa
    assert "Future payments the firm starts" in visa and "on the pay page" in visa
    assert "Mar 16, 2026" in visa  # when the consent was given, in the firm's zone
    assert "Expires soon" not in visa
    mastercard = _row(page, soon)
    assert "•••• 4444" in mastercard and "03/2026" in mastercard
    assert "Expires soon" in mastercard
    assert "One payment at a time" in mastercard
    assert _remove_path(soon) in mastercard
    assert "5555555555554444" not in page


def test_step_4a_links_to_the_clients_payers(
    console: Console, staffer: Person, book: Book, methods: tuple[SavedMethod, SavedMethod]
) -> None:
    console.sign_in_as(staffer)
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    page = _preview(console, {f"invoice-{book.old.id}": "100.00"})
    assert f'href="{PAGE}" id="client-payers-link"' in page


def test_removing_asks_first_then_removes_here_and_at_the_processor_audited(
    console: Console, staffer: Person, methods: tuple[SavedMethod, SavedMethod]
) -> None:
    own, soon = methods
    console.sign_in_as(staffer)

    confirm = console.get(_remove_path(soon))
    assert confirm.status_code == 200
    assert "Pat Parent" in confirm.get_data(as_text=True)
    db.session.refresh(soon)
    assert soon.removed_at is None  # asking removes nothing

    done = console.post(_remove_path(soon), {})

    assert done.status_code == 303
    assert done.headers["Location"] == PAGE
    db.session.refresh(soon)
    assert soon.removed_at is not None
    tokens = db.session.scalars(
        select(SandboxSavedMethod).where(
            SandboxSavedMethod.method_ref.in_([t.method_ref for t in soon.tokens])
        )
    ).all()
    assert tokens and all(t.detached_at is not None for t in tokens)
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "saved_method.removed")
    ).all()
    assert (event.actor_kind, event.actor_id) == ("staff", str(staffer.user.id))
    assert (event.entity, event.entity_id, event.before, event.after) == (
        "saved_method",
        soon.public_id,
        False,
        True,
    )
    after = console.get(PAGE).get_data(as_text=True)
    assert "Mastercard •••• 4444 is removed." in after
    assert f"method-{soon.public_id}" not in after
    assert f"method-{own.public_id}" in after
    # gone already: not found, and nothing more audited
    assert console.get(_remove_path(soon)).status_code == 404
    assert console.post(_remove_path(soon), {}, form_page=PAGE).status_code == 404
    assert (
        len(db.session.scalars(select(AuditEvent).where(AuditEvent.entity == "saved_method")).all())
        == 1
    )


def test_removing_without_the_csrf_token_removes_nothing(
    console: Console, staffer: Person, methods: tuple[SavedMethod, SavedMethod]
) -> None:
    _, soon = methods
    console.sign_in_as(staffer)

    answer = console.client.post(_remove_path(soon), data={}, base_url=BASE_URL)

    assert answer.status_code == 400
    db.session.refresh(soon)
    assert soon.removed_at is None


def test_another_firms_staff_never_see_nor_remove_them(
    console: Console,
    methods: tuple[SavedMethod, SavedMethod],
    other_firm: factories.FirmWithKey,
) -> None:
    own, soon = methods
    # the other firm has a client with the same external id, and a saved card of its own
    theirs = saved_for(factories.client(other_firm, external_id="C-1", name="Other Client"))
    stranger = make_person(other_firm, "x@brandt.example", role="staff", mfa=False)
    console.sign_in_as(stranger)

    page = console.get(PAGE).get_data(as_text=True)
    asked = console.get(_remove_path(soon))
    removed = console.post(_remove_path(soon), {}, form_page=PAGE)

    assert f"method-{theirs.public_id}" in page
    assert own.public_id not in page and soon.public_id not in page and "Pat Parent" not in page
    assert asked.status_code == 404 and removed.status_code == 404
    db.session.refresh(soon)
    assert soon.removed_at is None
    assert console.get("/console/clients/C-404/payers").status_code == 404


def test_the_apis_delete_is_audited_with_the_key(
    api: APIClient, firm: factories.FirmWithKey, methods: tuple[SavedMethod, SavedMethod]
) -> None:
    own, _ = methods
    assert api.delete(f"/api/v1/clients/C-1/payment-methods/{own.public_id}").status_code == 204
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "saved_method.removed")
    ).all()
    assert event.actor_kind == "api_key" and event.entity_id == own.public_id


def test_the_dashboard_links_to_the_cards_expiring_soon_with_their_clients(
    console: Console,
    staffer: Person,
    methods: tuple[SavedMethod, SavedMethod],
    other_firm: factories.FirmWithKey,
) -> None:
    own, soon = methods
    # another firm's card expiring as soon is never listed
    theirs = saved_for(factories.client(other_firm, external_id="C-9", name="Other Client"), SOON)
    console.sign_in_as(staffer)

    board = console.get("/console/").get_data(as_text=True)
    listed = console.get("/console/saved-cards/expiring")

    assert 'href="/console/saved-cards/expiring"' in board
    assert listed.status_code == 200
    page = listed.get_data(as_text=True)
    row = _row(page, soon)
    assert "•••• 4444" in row and "03/2026" in row and "Pat Parent" in row
    assert f'href="{PAGE}"' in row and "(C-1)" in row
    assert "One payment at a time" in row
    assert own.public_id not in page  # the Visa runs to 2040
    assert theirs.public_id not in page and "Other Client" not in page


def test_no_card_expiring_says_so(console: Console, staffer: Person) -> None:
    console.sign_in_as(staffer)
    page = console.get("/console/saved-cards/expiring").get_data(as_text=True)
    assert 'id="none-expiring"' in page


def test_the_audit_log_shows_a_client_who_removed_its_own_card(
    app: Flask,
    console: Console,
    admin: Person,
    book: Book,
    methods: tuple[SavedMethod, SavedMethod],
    other_firm: factories.FirmWithKey,
) -> None:
    # given the client removes its Visa on its own review page
    own, _ = methods
    g.pop("csrf_token", None)  # another browser: not the console's token
    browser = Browser(app.test_client())
    browser.open(factories.link(book.client))
    review = choose(browser.basket(), invoices={book.old.id: "100"}).submit()
    confirm = browser.form(review, "confirm")
    removed = browser.post(f"/pay/saved-methods/{own.public_id}/remove", confirm.fields)
    assert removed.status_code == 200
    # and two events whose client is not this firm's to name: another firm's client, and an
    # id no client has (the page must still show them, by the id the event kept)
    stranger = factories.client(other_firm, external_id="C-9", name="Not Theirs")
    for client_id in (stranger.id, 987654):
        audit.record(
            book.client.firm_id,
            audit.Actor.client(client_id),
            action="saved_method.removed",
            entity="saved_method",
            entity_id="pm_gone",
        )
    console.sign_in_as(admin)

    # when
    page = console.get("/console/audit?actor=client")
    exported = console.get("/console/audit.csv?actor=client")
    staff_only = console.get(f"/console/audit?actor=staff:{admin.user.id}")

    # then
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"Client C-1 ({book.client.name})" in text
    assert own.public_id in text and "saved_method.removed" in text
    assert f"Client #{stranger.id}" in text and "Not Theirs" not in text
    assert "Client #987654" in text
    assert '<option selected value="client">Any client</option>' in text
    assert exported.status_code == 200
    csv_text = exported.get_data(as_text=True)
    assert f"Client C-1 ({book.client.name})" in csv_text and own.public_id in csv_text
    assert own.public_id not in staff_only.get_data(as_text=True)
