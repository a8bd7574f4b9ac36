"""The console's Settings page in a real browser: the brand colour's live contrast check follows
what is typed (its nonce'd script runs under the page's own CSP), and the page passes axe-core
under WCAG 2.2 A/AA on a 1280 px desktop and a 390 px phone."""

from __future__ import annotations

import math
from typing import Any

import pytest
from playwright.sync_api import expect

from portal import colors
from portal.audit.services import Actor
from portal.db import db
from portal.firms import branding
from tests import factories
from tests.browser.conftest import DESKTOP, LiveServer
from tests.console.conftest import PASSWORD, make_person

PHONE_390 = {"width": 390, "height": 844}
EMAIL = "ada@okafor.example"


@pytest.fixture
def admin_firm(live_server: LiveServer) -> None:
    """A firm with a colour and origins, and an admin without an authenticator (tests allow
    signing in with the password alone), committed where the live server sees them."""
    with live_server.app.app_context():
        firm = factories.firm_with_key("Okafor & Lindqvist LLP").firm
        make_person(firm, EMAIL, mfa=False)
        branding.set_branding(
            firm,
            name=firm.name,
            brand_colour="#1d4ed8",
            public_trust_deposits=False,
            actor=Actor("cli"),
        )
        branding.set_origins(firm, ["https://www.okafor.example"], actor=Actor("cli"))
        db.session.commit()


def _server_ratio(colour: str) -> str:
    """White text's contrast on `colour` by the server's arithmetic, as the page shows it."""
    rgb = colors.parse_hex(colour)
    assert rgb is not None
    return f"{math.floor(colors.contrast(rgb, colors.WHITE) * 100) / 100:.2f}"


def _open_settings(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/console/sign-in")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    page.goto(live_server.url + "/console/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")


def test_the_contrast_check_follows_the_typed_colour(
    page: Any, live_server: LiveServer, admin_firm: None
) -> None:
    # given the settings page, under its own Content-Security-Policy
    _open_settings(page, live_server)
    check = page.locator("#brand-contrast")
    swatch = page.locator("#brand-swatch")
    expect(check).to_have_text("White text on #1d4ed8 has a contrast of 6.70:1: readable.")
    expect(swatch).to_be_visible()
    colour = page.get_by_label("Brand colour")
    # when a pale colour is typed, then the check says so at once, before anything is sent
    colour.fill("#ffff00")
    expect(check).to_have_text(
        "White text on #ffff00 has a contrast of only 1.07:1; at least 4.5:1 is needed. "
        "Choose a darker colour."
    )
    expect(swatch).to_have_css("background-color", "rgb(255, 255, 0)")
    # a half-typed colour is not a colour yet, and the swatch hides
    colour.fill("#12")
    expect(check).to_have_text("#12 is not a colour written #rrggbb.")
    expect(swatch).to_be_hidden()
    # the script's arithmetic is the server's (portal.colors), either side of 4.5:1
    for typed, verdict in (("#767676", ": readable."), ("#777777", "; at least 4.5:1")):
        colour.fill(typed)
        expect(check).to_contain_text(f"White text on {typed} has a contrast of ")
        expect(check).to_contain_text(f"{_server_ratio(typed)}:1{verdict}")
    # and the server still decides: a pale colour sent is refused next to its field
    colour.fill("#ffff00")
    page.get_by_role("button", name="Save name and colour").click()
    expect(page.locator("#branding-brand_colour-error")).to_contain_text("contrast of 1.07:1")
    expect(colour).to_have_value("#ffff00")
    expect(check).to_contain_text("only 1.07:1")
    # Nothing went wrong but the refused form's own 422 (a CSP refusal would show here too).
    others = [e for e in page.watch.console_errors if "status of 422" not in e]
    assert not others and not page.watch.page_errors
    assert not page.watch.foreign_requests(live_server.url)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE_390], ids=["1280", "390"])
def test_the_settings_page_passes_axe(
    make_page: Any, axe: Any, live_server: LiveServer, admin_firm: None, viewport: Any
) -> None:
    # add_script_tag inlines axe's text, which the portal's own CSP would refuse.
    page = make_page(viewport=viewport, bypass_csp=True)
    _open_settings(page, live_server)
    assert axe(page) == []
    # and with errors shown beside their fields
    page.get_by_label("Website origin").fill("ftp://okafor.example/pay")
    page.get_by_role("button", name="Add the origin").click()
    expect(page.locator("#origin-origin-error")).to_be_visible()
    assert axe(page) == []
