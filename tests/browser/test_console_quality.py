"""The console in a real browser (Debian's chromium), signed in through the real sign-in page
with a code computed here: every page passes axe at 1280 and 390 px; the main flows are done
with the keyboard (refund from the Payment Manager, release held postings to a real receiver
that verifies them with `standardwebhooks`, apply an unmatched payment, change a setting and
find it in the audit log); five wrong sign-ins lock the account, with one message throughout.

The invitation → password → authenticator → recovery codes walk is test_console_signin.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.console.pages import NAV
from portal.db import db
from portal.postings import endpoints
from portal.staff.models import StaffUser
from tests import factories
from tests.api.payment_books import make_book
from tests.api.unmatched_books import public_payment
from tests.browser.conftest import DESKTOP, LiveServer
from tests.console.conftest import make_person
from tests.payments.conftest import pay
from tests.postings.conftest import Receiver, deliver_all

PHONE_390 = {"width": 390, "height": 844}
WRONG = "Email, password or code is wrong."


@dataclass
class Firm:
    server: LiveServer
    email: str
    password: str
    secret: str
    payment_id: str
    payment_number: str
    stray_id: str


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def quartermaine(live_server: LiveServer, receiver: Receiver) -> Firm:
    """A firm with a paid invoice whose posting is held, an unmatched payment, an endpoint on
    the test's receiver and an admin with an authenticator; committed for the live server."""
    app = live_server.app
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=2)
    with app.app_context():
        firm = factories.firm_with_key("Quartermaine LLP")
        firm.firm.auto_post = False
        book = make_book(firm)
        endpoint = endpoints.register_endpoint(firm.firm, url=receiver.url)
        receiver.secrets.append(endpoint.secret)
        stray = public_payment(firm.firm, "INV-1O01", 25_000)
        payment = pay(book, invoices={book.old.id: 10_000})
        admin = make_person(firm, "ada@quartermaine.example")
        found = Firm(
            live_server,
            admin.email,
            admin.password,
            admin.secret or "",
            payment.public_id,
            payment.number,
            stray.public_id,
        )
        db.session.commit()
    return found


def sign_in(page: Any, firm: Firm, code: str | None = None, *, opens: bool = True) -> None:
    """Email, password and code typed with the keyboard; Enter sends. `opens`: wait for the
    dashboard."""
    page.goto(firm.server.url + "/console/sign-in")
    page.get_by_label("Email", exact=True).focus()
    page.keyboard.type(firm.email)
    page.keyboard.press("Tab")
    page.keyboard.type(firm.password)
    page.keyboard.press("Tab")
    page.keyboard.type(code if code is not None else pyotp.TOTP(firm.secret).now())
    page.keyboard.press("Enter")
    if opens:
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


def press_on(page: Any, locator: Any) -> None:
    """Reach `locator` by focus and press Enter, as a keyboard user would."""
    locator.focus()
    page.keyboard.press("Enter")


def test_every_console_page_passes_axe_at_1280_and_390_px(
    make_page: Callable[..., Any], quartermaine: Firm, axe: Callable[[Any], list[str]]
) -> None:
    page = make_page(viewport=DESKTOP, bypass_csp=True)
    sign_in(page, quartermaine)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    base = quartermaine.server.url + "/console"
    paths = [s.path for s in NAV] + [
        f"/payments/{quartermaine.payment_id}",
        "/links?client=C-1",
        "/confirm-password",
        "/saved-cards/expiring",
        "/payments?status=nothing",  # a filter refused: errors next to their fields
    ]
    found: dict[str, list[str]] = {}
    for viewport in (DESKTOP, PHONE_390):
        page.set_viewport_size(viewport)
        for path in paths:
            page.goto(base + path)
            found[f"{viewport['width']} {path}"] = axe(page)
        # the refund's confirmation page, reached by its form
        page.goto(base + f"/payments/{quartermaine.payment_id}")
        page.locator("#refund-whole").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Confirm the refund")
        found[f"{viewport['width']} refund confirmation"] = axe(page)
    problems = {where: lines for where, lines in found.items() if lines}
    assert not problems, "\n".join(f"{w}:\n  " + "\n  ".join(v) for w, v in problems.items())
    assert not page.watch.page_errors


def test_refund_from_the_payment_manager_with_the_keyboard(page: Any, quartermaine: Firm) -> None:
    sign_in(page, quartermaine)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    press_on(page, page.get_by_role("link", name="Payments", exact=True))
    expect(page.get_by_role("heading", level=1)).to_have_text("Payments")
    press_on(page, page.get_by_role("link", name=quartermaine.payment_number))
    expect(page.get_by_role("heading", level=1)).to_contain_text(quartermaine.payment_number)
    press_on(page, page.locator("#refund-whole"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm the refund")
    expect(page.locator("main")).to_contain_text("$100.00")
    press_on(page, page.get_by_role("button", name="Refund now"))
    expect(page.locator("#payment-status")).to_have_text(re.compile("Refunded"))


def test_release_held_postings_and_the_receiver_gets_them(
    page: Any, quartermaine: Firm, receiver: Receiver
) -> None:
    sign_in(page, quartermaine)
    page.goto(quartermaine.server.url + "/console/postings")
    boxes = page.locator('input[type="checkbox"][name="message"]')
    held = [boxes.nth(i).get_attribute("value") for i in range(boxes.count())]
    assert held, "nothing held"
    for i in range(boxes.count()):
        boxes.nth(i).focus()
        page.keyboard.press("Space")
    press_on(page, page.get_by_role("button", name="Release the ticked postings"))
    expect(page.locator("main")).to_contain_text("No posting is held.")
    with quartermaine.server.app.app_context():
        deliver_all()
    got = {item.msg_id: item for item in receiver.received}
    for message_id in held:
        assert message_id in got, (message_id, list(got))
        assert got[message_id].accepted_by, "the signature did not verify"
        assert (got[message_id].payload or {}).get("type") == "payment.succeeded"


def test_apply_an_unmatched_payment_with_the_keyboard(page: Any, quartermaine: Firm) -> None:
    sign_in(page, quartermaine)
    page.goto(quartermaine.server.url + "/console/unmatched")
    row = page.locator(f"#u-{quartermaine.stray_id}")
    expect(row).to_contain_text("INV-1O01")
    row.get_by_label("Invoice or matter id").focus()
    page.keyboard.type("INV-OLD")
    page.keyboard.press("Enter")
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator("main")).to_contain_text("applied to INV-OLD")


def test_a_changed_setting_is_in_the_audit_log(page: Any, quartermaine: Firm) -> None:
    sign_in(page, quartermaine)
    page.goto(quartermaine.server.url + "/console/settings")
    box = page.get_by_label("A/R message", exact=True)
    box.focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Paid through Quartermaine's portal")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_contain_text("saved", ignore_case=True)
    press_on(page, page.get_by_role("link", name="Audit log", exact=True))
    log = page.locator("main")
    expect(log).to_contain_text("ar_message")
    expect(log).to_contain_text("Paid through Quartermaine's portal")
    expect(log).to_contain_text(quartermaine.email)


def test_five_failures_lock_the_account_with_one_message(page: Any, quartermaine: Firm) -> None:
    messages = []
    wrong = [("password", "not the password at all"), ("code", "000000")]
    for attempt in range(5):
        kind, value = wrong[attempt % 2]
        firm = quartermaine
        if kind == "password":
            firm = Firm(**{**firm.__dict__, "password": value})
            sign_in(page, firm, opens=False)
        else:
            sign_in(page, firm, code=value, opens=False)
        alert = page.get_by_role("alert")
        expect(alert).to_be_visible()
        messages.append(alert.inner_text().strip())
    assert len(set(messages)) == 1 and WRONG in messages[0], messages
    # the right password and code are refused now, with the same words
    sign_in(page, quartermaine, opens=False)
    expect(page.get_by_role("alert")).to_have_text(messages[0])
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the console")
    with quartermaine.server.app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == quartermaine.email))
        assert user is not None and user.locked_until is not None  # locked, not merely refused
