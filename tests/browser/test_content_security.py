"""The Content-Security-Policy in a real browser: the portal's own scripts run by their nonce,
and a script slipped into a page (inline, or one of our own files without the nonce) does not.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Book
from tests.browser.test_pay import Portal

#: What an injection into the basket's HTML would add: an inline script, and our own pay.js
#: loaded a second time without the page's nonce.
INJECTED = (
    "<script>window.injected = 'inline'</script>"
    '<script src="/static/js/pay.js" id="injected-file"></script>'
)


def test_the_portals_scripts_run_and_injected_ones_do_not(page: Any, book: Book) -> None:
    portal = Portal(page)
    portal.open(book.link())

    def inject(route: Any) -> None:
        response = route.fetch()  # the real response, its CSP header included
        route.fulfill(
            response=response, body=response.text().replace("</main>", INJECTED + "</main>")
        )

    page.route(re.compile(re.escape(book.server.url) + r"/pay(\?.*)?$"), inject)
    portal.go_to_basket()
    expect(page.locator("#injected-file")).to_have_count(1)  # the injection is in the page

    # pay.js (with the nonce) ran: it shows the live total of the ticked invoices
    expect(page.get_by_text("Total of this payment: $1,840.50")).to_be_visible()
    # the injected inline script did not run, and the browser says why
    assert page.evaluate("window.injected") is None
    violations = [e for e in page.watch.console_errors if "Content Security Policy" in e]
    assert any("inline script" in e for e in violations), page.watch.console_errors
    assert any("/static/js/pay.js" in e for e in violations), page.watch.console_errors
    assert page.watch.page_errors == []
