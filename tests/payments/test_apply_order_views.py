"""The client's "pay a total" follows the firm's `auto_apply_order`, and says so."""

from __future__ import annotations

from portal.firms.models import AutoApplyOrder, Firm
from tests.payments.test_views import Books, Browser, books, browser, payments_of, text_of

__all__ = ["books", "browser"]  # fixtures, used here too


def test_a_total_goes_to_the_smallest_invoice_first(
    browser: Browser, books: Books, session
) -> None:
    firm = session.get(Firm, books.client.firm_id)
    firm.auto_apply_order = AutoApplyOrder.SMALLEST_FIRST
    basket = browser.basket()
    assert "smallest first" in text_of(browser.seen[-1])
    review = basket.set("total", "700.00").set("method", "card").submit("total")
    assert review.status_code == 200, text_of(review.text)
    page = text_of(review.text)
    assert "is applied to your invoices, smallest first" in page
    carried = browser.form(review, "confirm")
    # INV-EST (640.00) first, then INV-NEW (800.00, smaller than INV-OLD's 1,200.00)
    assert carried.value(f"invoice-{books.probate.id}") == "640.00"
    assert carried.value(f"invoice-{books.new.id}") == "60.00"
    assert not carried.values(f"invoice-{books.old.id}")
    assert payments_of(session, books) == []
