"""The pay button on a firm's own website, in a real browser.

A plain HTML page served from a second local origin (another port: another origin) carries the
README's snippet. Clicking its button opens the firm's hosted page in a new window; paying an
invoice there by sandbox card ends on a receipt that tells the firm's page by postMessage.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from portal.db import db
from portal.firms.embed import embed_path
from tests import factories
from tests.browser.conftest import LiveServer

HOST_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Okafor &amp; Lindqvist: pay online</title></head>
<body>
<h1>Pay online</h1>
<script src="{portal}/embed/v1.js" integrity="{integrity}" crossorigin="anonymous"
        data-firm="{slug}" defer></script>
<p>Result: <output id="result">waiting</output></p>
<script>
  window.addEventListener("message", function (event) {{
    document.body.setAttribute("data-message-origin", event.origin);
  }});
  document.addEventListener("matterpay:payment", function (event) {{
    document.getElementById("result").textContent =
      event.detail.status + " " + event.detail.amount_minor + " " + event.detail.currency;
  }});
</script>
</body>
</html>
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def firm_site(tmp_path: Path) -> Iterator[str]:
    """A static web server on another port of 127.0.0.1: the firm's own website."""
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="firm-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _integrity() -> str:
    digest = hashlib.sha384(embed_path("v1").read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode()


def _seed(live_server: LiveServer, site: str) -> str:
    with live_server.app.app_context():
        firm = factories.firm_with_key("Okafor & Lindqvist LLP").firm
        firm.website_origins = [site]
        firm.brand_colour = "#1f3a5f"
        person = factories.client(firm, name="Ada Mensah")
        matter = factories.matter(person, number="2024-0117", title="Mensah v. Harbour")
        factories.invoice(matter, number="INV-2001", total_minor=50_000)
        db.session.commit()
        return firm.slug


def _open_site(
    page: Any, live_server: LiveServer, site: str, folder: Path, *, lang: str = "en"
) -> str:
    """Seed the firm, put the button on its site's page (in `lang`), open it; the firm's slug."""
    slug = _seed(live_server, site)
    html = HOST_PAGE.replace('<html lang="en">', f'<html lang="{lang}">')
    (folder / f"{lang}.html").write_text(
        html.format(portal=live_server.url, integrity=_integrity(), slug=slug), encoding="utf-8"
    )
    page.goto(f"{site}/{lang}.html")
    return slug


def test_the_button_on_the_firms_site_pays_an_invoice_and_hears_back(
    live_server: LiveServer, firm_site: str, tmp_path: Path, page: Any
) -> None:
    slug = _open_site(page, live_server, firm_site, tmp_path)
    button = page.get_by_role("button", name="Pay your invoice")
    expect(button).to_be_visible()
    # No trust button unless the firm offers deposits, and never a frame on the firm's page.
    expect(page.get_by_role("button", name="Deposit to trust")).to_have_count(0)
    assert page.locator("iframe").count() == 0

    popup_errors: list[str] = []
    page.context.on("page", lambda new: new.on("pageerror", lambda e: popup_errors.append(str(e))))
    with page.expect_popup() as opened:
        button.click()
    hosted = opened.value
    hosted.set_default_timeout(10_000)
    expect(hosted.get_by_role("heading", name="Pay your invoice")).to_be_visible()
    assert hosted.url == f"{live_server.url}/pay/{slug}?lang=en_US"  # the site's <html lang>
    hosted.get_by_label("Your name").fill("Grace Parent")
    hosted.get_by_label("Your email (for the receipt)").fill("grace@example.com")
    hosted.get_by_label("Invoice or matter number").fill("INV-2001")
    hosted.get_by_label("Amount").fill("200.00")
    hosted.get_by_role("button", name="Review payment").click()
    expect(hosted.get_by_role("heading", name="Review your payment")).to_be_visible()
    hosted.get_by_label("Card number").fill("4242 4242 4242 4242")
    hosted.get_by_label("Expiry (MM/YY)").fill("12/34")
    hosted.get_by_label("Security code (CVC)").fill("123")
    hosted.get_by_label("Name on the card").fill("Grace Parent")
    hosted.get_by_role("button", name="Pay up to $200.00").click()
    expect(
        hosted.get_by_role("heading", name="Thank you: your payment is complete")
    ).to_be_visible()

    expect(page.locator("#result")).to_have_text("succeeded 20000 USD")
    assert page.locator("body").get_attribute("data-message-origin") == live_server.url
    assert page.watch.page_errors == [] and popup_errors == []


def test_an_unregistered_site_gets_no_button(
    live_server: LiveServer, firm_site: str, tmp_path: Path, page: Any
) -> None:
    slug = _seed(live_server, "https://www.okafor.example")
    (tmp_path / "index.html").write_text(
        HOST_PAGE.format(portal=live_server.url, integrity=_integrity(), slug=slug),
        encoding="utf-8",
    )
    page.goto(f"{firm_site}/index.html")
    expect(page.locator(".matterpay-buttons")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("button")).to_have_count(0)


def test_a_tampered_script_is_refused_by_its_integrity_hash(
    live_server: LiveServer, firm_site: str, tmp_path: Path, page: Any
) -> None:
    slug = _seed(live_server, "http://127.0.0.1:1")
    wrong = "sha384-" + base64.b64encode(hashlib.sha384(b"something else").digest()).decode()
    (tmp_path / "index.html").write_text(
        HOST_PAGE.format(portal=live_server.url, integrity=wrong, slug=slug), encoding="utf-8"
    )
    page.goto(f"{firm_site}/index.html")
    page.wait_for_load_state("networkidle")
    expect(page.locator(".matterpay-buttons")).to_have_count(0)


def test_a_spanish_site_opens_a_spanish_hosted_page(
    live_server: LiveServer, firm_site: str, tmp_path: Path, page: Any
) -> None:
    slug = _open_site(page, live_server, firm_site, tmp_path, lang="es")
    button = page.get_by_role("button", name="Pague su factura")
    expect(button).to_be_visible()
    with page.expect_popup() as opened:
        button.click()
    hosted = opened.value
    expect(hosted.get_by_role("heading", name="Pague su factura")).to_be_visible()
    expect(hosted.locator("html")).to_have_attribute("lang", "es-US")
    assert hosted.url == f"{live_server.url}/pay/{slug}?lang=es_US"
