"""Send for payment, as the client lives it in a real browser: a link that carries an allocation
opens the basket with exactly those lines and amounts; raising one is refused by the server and
nothing is charged; lowering one (partial payments allowed) is paid, and the receipt says so."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from portal.billing.models import Client, Invoice, Matter
from portal.db import db
from portal.links import issuing
from portal.links import services as links
from portal.links.lines import LineRequest
from portal.payments.models import Payment
from tests.browser.conftest import Book
from tests.browser.test_pay import Portal


def _carried_link(book: Book) -> tuple[str, dict[str, int]]:
    """Issue a link carrying INV-1041 (300.00 of 1,200.50), INV-1057 in full and a 200.00
    trust deposit, as the console's "Send for payment" does; return its URL and the ids."""
    with book.server.app.app_context():
        client = db.session.get(Client, book.client_id)
        matter = db.session.get(Matter, book.matter_id)
        assert client is not None and matter is not None
        invoices = {
            i.number: i
            for i in db.session.scalars(select(Invoice).where(Invoice.matter_id == matter.id))
        }
        link = issuing.create_link(
            firm_id=client.firm_id,
            client=client.external_id,
            matters=[],
            expires_in=None,
            ar_note="Phone call with Ada",
            lines=[
                LineRequest(0, invoice=invoices["INV-1041"].external_id, amount_minor=30_000),
                LineRequest(1, invoice=invoices["INV-1057"].external_id, amount_minor=64_000),
                LineRequest(2, matter=matter.external_id, trust_amount_minor=20_000),
            ],
        )
        ids = {"INV-1041": invoices["INV-1041"].id, "INV-1057": invoices["INV-1057"].id}
        return links.url_for_link(link), ids


def _payments(book: Book) -> list[Payment]:
    with book.server.app.app_context():
        return list(db.session.scalars(select(Payment)))


def test_the_client_pays_the_carried_lines_and_cannot_raise_one(page: Any, book: Book) -> None:
    url, ids = _carried_link(book)
    portal = Portal(page)
    portal.open(url)

    # the basket opens with exactly the carried lines and amounts
    page.get_by_role("link", name="Pay", exact=True).click()
    expect(page.get_by_role("heading", name="Make a payment")).to_be_visible()
    expect(page.locator(f"#invoice-{ids['INV-1041']}")).to_have_value("300.00")
    expect(page.locator(f"#invoice-{ids['INV-1057']}")).to_have_value("640.00")
    expect(page.locator(f"#trust-{book.matter_id}")).to_have_value("200.00")

    # raising a line is refused: no review, nothing charged
    page.locator(f"#invoice-{ids['INV-1041']}").fill("400.00")
    page.get_by_role("radio", name="Card", exact=True).check()
    page.get_by_role("button", name="Review payment").click()
    expect(page.get_by_role("heading", name="Review your payment")).to_have_count(0)
    expect(page.locator(".error-summary, [role=alert]").first).to_be_visible()
    assert _payments(book) == []

    # lowering it is allowed (partial payments are on): reviewed and paid
    page.locator(f"#invoice-{ids['INV-1041']}").fill("250.00")
    portal.review("Card")
    portal.pay_by_card("$1,090.00")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    (payment,) = _payments(book)
    with book.server.app.app_context():
        paid = db.session.get(Payment, payment.id)
        assert paid is not None
        amounts = [a.amount_minor for charge in paid.charges for a in charge.allocations]
        assert sorted(amounts) == [20_000, 25_000, 64_000]
