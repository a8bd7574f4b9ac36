"""How much a client does to pay, counted: taps and typed fields from opening the link to a
receipt, on a 390 px phone, for one invoice of three, everything due, and a trust request.

`Counted` wraps the few things a client does (tap, tick, type) and counts them; each journey
takes the shortest path the pages offer, in their own words. The figures before and after the
basket's redesign are written down in docs/client-flows.md; the ceilings here keep them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect

from portal import clock
from portal.db import db
from portal.trust_requests import services as trust_requests
from portal.trust_requests.models import TrustRequestKind
from tests import factories
from tests.browser.conftest import LiveServer, issue_link_url

PHONE_390 = {"width": 390, "height": 844}
#: The sandbox's test card: the four boxes of the card form.
CARD_FIELDS = (
    ("Card number", "4242 4242 4242 4242"),
    ("Expiry (MM/YY)", "12/34"),
    ("Security code (CVC)", "123"),
    ("Name on the card", "Ada Mensah"),
)


@dataclass
class Counted:
    """A page, and what the client has done on it so far."""

    page: Any
    taps: int = 0
    typed: int = 0

    def tap(self, target: Any) -> None:
        target.click()
        self.taps += 1

    def tick(self, box: Any, wanted: bool) -> None:
        """Tap a checkbox only when it is not already as wanted."""
        if box.is_checked() != wanted:
            self.tap(box)

    def type(self, box: Any, text: str) -> None:
        box.fill(text)
        self.typed += 1

    def pay_by_card(self) -> None:
        for label, text in CARD_FIELDS:
            self.type(self.page.get_by_label(label, exact=True), text)
        self.tap(self.page.get_by_role("button", name="Pay ", exact=False).last)
        expect(self.page.get_by_role("heading", level=1)).to_have_text(
            "Thank you: your payment is complete"
        )


@dataclass
class ThreeInvoices:
    server: LiveServer
    client_id: int
    matter_id: int
    matter_external_id: str
    firm_id: int

    def link(self) -> str:
        return issue_link_url(self.server, self.client_id, self.matter_id)


@pytest.fixture
def three(live_server: LiveServer) -> ThreeInvoices:
    """A client with one matter, three open invoices and an open trust request."""
    with live_server.app.app_context():
        today = clock.today()
        firm = factories.firm_with_key("Okafor & Lindqvist LLP")
        person = factories.client(firm, name="Ada Mensah")
        matter = factories.matter(person, title="Mensah v. Harbour Holdings", number="2024-0117")
        for number, minor, days in (
            ("INV-1", 120_050, 40),
            ("INV-2", 64_000, 20),
            ("INV-3", 30_000, 5),
        ):
            factories.invoice(
                matter,
                number=number,
                total_minor=minor,
                issued_on=today - dt.timedelta(days),
                due_on=today + dt.timedelta(30 - days),
            )
        db.session.commit()
        trust_requests.create_request(
            firm_id=firm.id,
            new=trust_requests.NewRequest(
                matter=matter.external_id,
                amount_minor=250_000,
                currency="USD",
                kind=TrustRequestKind.RETAINER,
                memo="Initial retainer",
            ),
        )
        return ThreeInvoices(live_server, person.id, matter.id, matter.external_id, firm.id)


def one_invoice_of_three(counted: Counted) -> None:
    page = counted.page
    counted.tap(page.get_by_role("link", name="Pay", exact=True))
    for number in ("INV-1", "INV-2", "INV-3"):
        counted.tick(page.get_by_role("checkbox", name=f"Invoice {number}"), number == "INV-2")
    counted.tap(page.get_by_role("button", name="Review payment").last)
    expect(page.get_by_role("heading", name="Review your payment")).to_be_visible()
    counted.pay_by_card()


def everything_due(counted: Counted) -> None:
    page = counted.page
    counted.tap(page.get_by_role("link", name="Pay", exact=True))
    counted.tap(page.get_by_role("button", name="Pay everything due"))
    expect(page.get_by_role("heading", name="Review your payment")).to_be_visible()
    counted.pay_by_card()


def trust_request(counted: Counted) -> None:
    page = counted.page
    counted.tap(page.get_by_role("link", name="Pay this request"))
    counted.tap(page.get_by_role("button", name="Review payment").last)
    expect(page.get_by_role("heading", name="Review your payment")).to_be_visible()
    counted.pay_by_card()


#: Each journey and its ceiling: (taps, typed fields). The card form's four boxes are typed
#: fields; the issue asks for one invoice of three in at most 4 taps plus the card fields.
JOURNEYS = {
    "one invoice of three": (one_invoice_of_three, (4, 4)),
    "everything due": (everything_due, (3, 4)),
    "trust request": (trust_request, (3, 4)),
}


@pytest.mark.parametrize("name", list(JOURNEYS))
def test_taps_and_typed_fields_to_a_receipt(
    make_page: Any, three: ThreeInvoices, name: str
) -> None:
    journey, (most_taps, most_typed) = JOURNEYS[name]
    page = make_page(viewport=PHONE_390)
    page.goto(three.link())
    counted = Counted(page)
    journey(counted)
    print(f"\n{name}: {counted.taps} taps, {counted.typed} typed fields")  # noqa: T201 (the figures for the note)
    assert counted.taps <= most_taps and counted.typed <= most_typed, (
        f"{name}: {counted.taps} taps, {counted.typed} typed fields"
    )
