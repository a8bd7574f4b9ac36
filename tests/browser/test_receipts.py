"""The receipt in a real browser at a phone's and a desktop's width: the payment number first,
the firm's local time, axe-clean, its PDF downloaded and read back, and the payment found
again in the history."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, Book
from tests.browser.test_pay import Portal
from tests.pdfs import pdf_text

NUMBER = re.compile(r"P-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}")
PHONE_390 = {"width": 390, "height": 844}


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["390", "1280"])
def test_receipt_pdf_and_history(
    make_page: Any, axe: Any, book: Book, viewport: dict[str, int], tmp_path: Path
) -> None:
    # add_script_tag inlines axe's text, which the portal's own CSP would refuse.
    page = make_page(viewport=viewport, bypass_csp=True)
    portal = Portal(page)
    portal.open(book.link())
    portal.go_to_basket()
    portal.invoice("INV-1041").check()
    portal.invoice("INV-1057").uncheck()
    portal.review("Card")
    portal.pay_by_card("$1,200.50")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    lede = page.locator(".lede").inner_text()
    found = NUMBER.search(lede)
    assert found, lede
    number = found.group(0)
    assert "UTC" in lede  # the firm's zone (the default here), named
    expect(page.get_by_text("Paid by")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert axe(page) == []

    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download the PDF").click()
    download = waiting.value
    assert download.suggested_filename == f"receipt-{number}.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = pdf_text(saved.read_bytes())
    assert number in text and "$1,200.50" in text and "UTC" in text

    page.get_by_role("link", name="Your matters").first.click()
    page.get_by_role("link", name="Your payments and receipts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your payments")
    expect(page.get_by_role("row", name=re.compile(number))).to_contain_text("$1,200.50")
    assert axe(page) == []
    page.get_by_role("link", name=f"Receipt for {number}").click()
    expect(page.locator(".lede")).to_contain_text(number)
