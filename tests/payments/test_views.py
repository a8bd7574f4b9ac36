"""The pay flow through the browser's eyes: basket → review → confirm → receipt, no JavaScript.

Forms are read from the rendered HTML and submitted the way a browser would (ticked boxes,
typed boxes, hidden fields, the CSRF token), through the offline sandbox gateway.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from portal import clock
from portal.billing.models import Client, Invoice, Matter
from portal.firms.models import MerchantAccountKind
from portal.gateways.models import SandboxIntent
from portal.links import services as links
from portal.links.models import Link
from portal.payments.models import ChargeStatus, Payment, PaymentMethod
from tests import factories
from tests.payments.conftest import settle_ach

BASE_URL = "https://localhost"
VISA = {
    "card_number": "4242 4242 4242 4242",
    "card_expiry": "12/40",
    "card_cvc": "123",
    "card_name": "Ada Client",
}
DECLINED = {**VISA, "card_number": "4000 0000 0000 0002"}
BANK = {
    "account_holder": "Ada Client",
    "routing_number": "110000000",
    "account_number": "000123456789",
    "account_type": "checking",
}
S = ChargeStatus


# -- a browser without JavaScript ---------------------------------------------------------------


class _Forms(HTMLParser):
    """Collect each form's successful controls, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, list[tuple[str, str]]] = {}
        self.kinds: dict[str, dict[str, str]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = a.get("id", "")
            self.forms[self._current] = []
            self.kinds[self._current] = {}
        elif tag == "input" and self._current is not None and a.get("name"):
            kind = a.get("type", "text")
            self.kinds[self._current][a["name"]] = kind
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button"):
                return
            self.forms[self._current].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


class Form:
    """One form's fields; `set` types or ticks, `untick` clears, `submit` posts."""

    def __init__(self, browser: Browser, action: str, fields: list[tuple[str, str]]) -> None:
        self.browser = browser
        self.action = action
        self.fields = list(fields)

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]

    def value(self, name: str) -> str:
        (found,) = self.values(name)
        return found

    def set(self, name: str, value: str) -> Form:
        self.fields = [(k, v) for k, v in self.fields if k != name] + [(name, value)]
        return self

    def tick(self, name: str, value: str) -> Form:
        if (name, value) not in self.fields:
            self.fields.append((name, value))
        return self

    def untick(self, name: str, value: str | None = None) -> Form:
        self.fields = [(k, v) for k, v in self.fields if not (k == name and value in (None, v))]
        return self

    def fill(self, values: dict[str, str]) -> Form:
        for name, value in values.items():
            self.set(name, value)
        return self

    def submit(self, action: str | None = None, *, csrf: bool = True) -> TestResponse:
        fields = [(k, v) for k, v in self.fields if csrf or k != "csrf_token"]
        if action is not None:
            fields.append(("action", action))
        return self.browser.post(self.action, fields)


class Browser:
    """The test client, used the way a phone's browser uses the pay pages."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.seen: list[str] = []

    def open(self, link: Link) -> TestResponse:
        return self.client.get(f"/l/{links.token_for(link)}", base_url=BASE_URL)

    def get(self, path: str) -> TestResponse:
        response = self.client.get(path, base_url=BASE_URL)
        self.seen.append(response.text)
        return response

    def post(self, path: str, fields: list[tuple[str, str]]) -> TestResponse:
        from werkzeug.datastructures import MultiDict

        response = self.client.post(
            path,
            data=MultiDict(fields),
            base_url=BASE_URL,
            environ_base={"REMOTE_ADDR": "198.51.100.7"},
            # A browser sends the page it posts from, as our same-origin policy allows;
            # Flask-WTF requires that Referer on HTTPS posts.
            headers={"User-Agent": "Mozilla/5.0 (phone) pytest", "Referer": f"{BASE_URL}/pay"},
        )
        self.seen.append(response.text)
        return response

    def form(self, response: TestResponse, form_id: str) -> Form:
        parser = _Forms()
        parser.feed(response.text)
        assert form_id in parser.forms, f"no form #{form_id} in the page"
        action = re.search(
            rf'<form method="post" action="([^"]+)"[^>]*id="{form_id}"', response.text
        )
        assert action is not None
        return Form(self, html.unescape(action.group(1)), parser.forms[form_id])

    def basket(self, path: str = "/pay") -> Form:
        response = self.get(path)
        assert response.status_code == 200, response.text
        return self.form(response, "basket")


def text_of(page: str) -> str:
    """The page's visible text, tags removed and spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def location(response: TestResponse) -> str:
    return response.headers["Location"].removeprefix(BASE_URL)


# -- the books ------------------------------------------------------------------------------------


@dataclass
class Books:
    client: Client
    lawsuit: Matter
    estate: Matter
    old: Invoice  # overdue, on the lawsuit
    new: Invoice  # due later, on the lawsuit
    probate: Invoice  # on the estate
    link: Link


@pytest.fixture
def books(session, firm) -> Books:
    """A client owing on three invoices over two matters; the lawsuit is short in trust."""
    person = factories.client(firm, name="Ada Client", email="ada@example.com")
    lawsuit = factories.matter(
        person, number="2026-001", title="Client v. Northside", trust_minimum_minor=500_000
    )
    estate = factories.matter(person, number="2026-002", title="Estate of B. Client")
    today = clock.today()
    old = factories.invoice(
        lawsuit,
        number="INV-OLD",
        total_minor=120_000,
        issued_on=today - dt.timedelta(40),
        due_on=today - dt.timedelta(5),
    )
    new = factories.invoice(
        lawsuit,
        number="INV-NEW",
        total_minor=80_000,
        issued_on=today - dt.timedelta(3),
        due_on=today + dt.timedelta(25),
    )
    probate = factories.invoice(
        estate,
        number="INV-EST",
        total_minor=64_000,
        issued_on=today - dt.timedelta(20),
        due_on=today + dt.timedelta(5),
    )
    factories.trust_entry(lawsuit, 200_000, description="Retainer")
    return Books(person, lawsuit, estate, old, new, probate, factories.link(person))


@pytest.fixture
def browser(client: FlaskClient, books: Books) -> Browser:
    b = Browser(client)
    b.open(books.link)
    return b


def payments_of(session, books: Books) -> list[Payment]:
    return list(session.scalars(select(Payment).where(Payment.client_id == books.client.id)))


def choose(
    basket: Form,
    *,
    invoices: dict[int, str],
    trust: dict[int, str] | None = None,
    method: str = "card",
) -> Form:
    """Tick exactly these lines, with these amounts typed."""
    basket.untick("invoice").untick("trust")
    for invoice_id, amount in invoices.items():
        basket.tick("invoice", str(invoice_id)).set(f"invoice-{invoice_id}", amount)
    for matter_id, amount in (trust or {}).items():
        basket.tick("trust", str(matter_id)).set(f"trust-{matter_id}", amount)
    return basket.set("method", method)


# -- the happy path ----------------------------------------------------------------------------


def test_two_invoices_and_a_trust_deposit_become_two_charges(
    browser: Browser, books: Books, session
) -> None:
    # given the basket
    basket = browser.basket()
    choose(
        basket,
        invoices={books.old.id: "1,200.00", books.new.id: "300"},
        trust={books.lawsuit.id: "500.00"},
    )

    # when the payer reviews it
    review = basket.submit()

    # then the review splits it by destination, with totals per account and overall
    assert review.status_code == 200, text_of(review.text)
    page = text_of(review.text)
    assert "Operating account" in page
    assert "Trust account (IOLTA)" in page
    assert page.index("Operating account") < page.index("Trust account (IOLTA)")
    assert "Invoice INV-OLD" in page
    assert "Invoice INV-NEW" in page
    assert "Trust deposit" in page
    assert "To Operating account $1,500.00" in page
    assert "To Trust account (IOLTA) $500.00" in page
    assert "Total $2,000.00" in page
    assert "Pay $2,000.00" in page
    # and INV-NEW stays owed in part
    assert re.search(r"Invoice INV-NEW .*? \$300\.00 \$500\.00", page)
    # and nothing was charged yet
    assert payments_of(session, books) == []

    # when the payer confirms with a card
    done = browser.form(review, "confirm").fill(VISA).submit()

    # then they land on the receipt
    assert done.status_code == 303
    assert location(done).startswith("/payments/")
    receipt = browser.get(location(done))
    assert receipt.status_code == 200
    page = text_of(receipt.text)
    assert "Thank you: your payment is complete" in page
    assert "Visa •••• 4242" in page
    assert "Operating account" in page
    assert "Trust account (IOLTA)" in page
    assert page.count("Paid") >= 2
    # and there is one payment of two charges, one per merchant account
    (payment,) = payments_of(session, books)
    assert [c.account_kind for c in payment.charges] == [
        MerchantAccountKind.OPERATING,
        MerchantAccountKind.TRUST,
    ]
    assert [c.amount_minor for c in payment.charges] == [150_000, 50_000]
    assert all(c.status is S.SUCCEEDED for c in payment.charges)
    assert payment.payer_name == "Ada Client"
    assert payment.payer_email == "ada@example.com"
    assert payment.number in page


def test_the_basket_lists_every_payable_invoice_by_matter(browser: Browser, books: Books) -> None:
    response = browser.get("/pay")
    page = text_of(response.text)

    # grouped by matter, each invoice with its due date and overdue said in words
    lawsuit, estate = page.index("Client v. Northside"), page.index("Estate of B. Client")
    assert lawsuit < page.index("INV-OLD") < page.index("INV-NEW") < estate < page.index("INV-EST")
    assert "Overdue" in page[page.index("INV-OLD") : page.index("INV-NEW")]
    assert "Overdue" not in page[page.index("INV-NEW") :]
    # nothing chosen for the payer: no invoice ticked, no amount filled in on any line; what
    # can be paid is said, and pay.js fills it in when a line is ticked
    basket = browser.form(response, "basket")
    assert basket.value(f"invoice-{books.old.id}") == ""
    assert basket.values("invoice") == []
    assert 'data-suggested="1200.00"' in response.text
    # the trust line suggests the shortfall below the minimum (5,000 - 2,000), unticked, empty
    assert basket.value(f"trust-{books.lawsuit.id}") == ""
    assert basket.value(f"trust-{books.estate.id}") == ""
    assert basket.values("trust") == []
    assert "Suggested: $3,000.00" in page
    assert "$3,000.00 short of the minimum" in page
    # both methods are offered, and "pay everything due" shows the sum
    assert basket.values("method") == ["card"]
    assert 'value="ach"' in response.text
    assert "Due now $2,640.00" in page
    # the live preview's hooks are there for pay.js
    assert 'data-rank="0"' in response.text
    assert 'data-payable="120000"' in response.text
    assert re.search(
        r'<script nonce="[\w-]+" src="/static/js/pay\.js" defer></script>', response.text
    )


def test_pay_everything_due(browser: Browser, books: Books, session) -> None:
    basket = browser.basket()
    basket.untick("invoice")  # whatever was ticked, the button pays all

    review = basket.submit("all")

    page = text_of(review.text)
    assert review.status_code == 200, page
    for number in ("INV-OLD", "INV-NEW", "INV-EST"):
        assert f"Invoice {number}" in page
    assert "Total $2,640.00" in page
    assert "Trust deposit" not in page
    done = browser.form(review, "confirm").fill(VISA).submit()
    assert done.status_code == 303
    (payment,) = payments_of(session, books)
    assert payment.total_minor == 264_000
    assert {books.old.balance_due_minor, books.new.balance_due_minor} == {0}


def test_a_total_is_applied_oldest_due_date_first(browser: Browser, books: Books) -> None:
    # given a total typed (en-US grouping), and a trust deposit typed by hand
    basket = browser.basket()
    basket.set("total", "1,500").tick("trust", str(books.lawsuit.id))

    # a trust deposit ticked with an empty box is refused: deposits are typed by hand
    refused = basket.submit("total")
    assert refused.status_code == 422
    assert "Trust deposit, matter 2026-001: Enter an amount." in text_of(refused.text)
    basket.set(f"trust-{books.lawsuit.id}", "3000.00")  # what pay.js fills in when ticked

    # when
    review = basket.submit("total")

    # then INV-OLD (overdue) is paid in full, the rest goes to the next due (INV-EST)
    page = text_of(review.text)
    assert review.status_code == 200, page
    assert "Your total of $1,500.00 is applied to your invoices, oldest due date first." in page
    assert re.search(r"Invoice INV-OLD .*? \$1,200\.00 \$0\.00", page)
    assert re.search(r"Invoice INV-EST .*? \$300\.00 \$340\.00", page)
    # INV-NEW gets nothing and the review says it stays owed in full
    untouched = page[page.index("Not part of this payment") :]
    assert "Invoice INV-NEW $800.00" in untouched
    # the deposit is never taken out of the total: it is its own line, as typed
    assert "To Trust account (IOLTA) $3,000.00" in page
    assert "Total $4,500.00" in page
    # and the confirm form carries the server's split, not the total
    confirm = browser.form(review, "confirm")
    assert confirm.value(f"invoice-{books.old.id}") == "1200.00"
    assert confirm.value(f"invoice-{books.probate.id}") == "300.00"
    assert "total" not in dict(confirm.fields)


def test_pressing_enter_with_a_total_typed_reviews_that_total(
    browser: Browser, books: Books
) -> None:
    basket = browser.basket().set("total", "100")
    review = basket.submit("review")  # the hidden default button
    assert "Your total of $100.00 is applied" in text_of(review.text)


def test_a_total_above_what_is_due_is_refused(browser: Browser, books: Books) -> None:
    response = browser.basket().set("total", "99999").submit("total")
    assert response.status_code == 422
    assert 'value="99999"' in response.text
    assert 'id="total-error"' in response.text


# -- bank debits ----------------------------------------------------------------------------------


def test_ach_with_the_mandate_is_processing(browser: Browser, books: Books, session) -> None:
    basket = choose(
        browser.basket(),
        invoices={books.new.id: "800"},
        trust={books.lawsuit.id: "250"},
        method="ach",
    )
    review = basket.submit()
    page = text_of(review.text)
    assert review.status_code == 200, page
    # the authorization is shown in full, with the amount
    shown = re.search(r'<p class="mandate__text" id="mandate-text">(.*?)</p>', review.text, re.S)
    assert shown is not None
    mandate = html.unescape(shown.group(1))
    assert "Okafor & Lindqvist LLP" in mandate
    assert "$1,050.00" in mandate
    assert "routing number 110000000 and account number 000123456789" in page  # sandbox note
    for name in ("account_holder", "routing_number", "account_number", "account_type"):
        assert f'name="{name}"' in review.text

    done = browser.form(review, "confirm").fill(BANK).set("mandate", "accepted").submit()

    assert done.status_code == 303
    receipt = text_of(browser.get(location(done)).text)
    assert "Your payment is processing" in receipt
    assert "Processing: we will email you when it clears." in receipt
    assert "Test bank •••• 6789" in receipt
    (payment,) = payments_of(session, books)
    assert payment.method is PaymentMethod.ACH
    assert [c.status for c in payment.charges] == [S.PROCESSING, S.PROCESSING]
    # the exact text the payer saw is what is recorded, with where they accepted it from
    assert payment.mandate_text == mandate
    assert payment.mandate_ip == "198.51.100.7"
    assert payment.mandate_user_agent == "Mozilla/5.0 (phone) pytest"


def test_ach_without_the_mandate_charges_nothing(browser: Browser, books: Books, session) -> None:
    review = choose(browser.basket(), invoices={books.new.id: "800"}, method="ach").submit()
    confirm = browser.form(review, "confirm").fill(BANK)
    assert "mandate" not in dict(confirm.fields)

    response = confirm.submit()

    assert response.status_code == 422
    assert "Tick the box to authorize the bank debit." in text_of(response.text)
    assert 'id="mandate-error"' in response.text
    assert payments_of(session, books) == []
    # the same review comes back, with the same nonce, and no bank numbers echoed
    again = browser.form(response, "confirm")
    assert again.value("nonce") == confirm.value("nonce")
    assert 'value="000123456789"' not in response.text
    assert 'value="110000000"' not in response.text
    # then ticking the box goes through, once
    done = again.fill(BANK).set("mandate", "accepted").submit()
    assert done.status_code == 303
    assert len(payments_of(session, books)) == 1


def test_only_methods_the_merchant_accounts_take_are_offered(
    browser: Browser, books: Books, firm
) -> None:
    for account in firm.firm.merchant_accounts:
        account.accepts_ach = False
    page = browser.get("/pay").text
    assert 'value="card"' in page
    assert 'value="ach"' not in page
    # and a forged choice is refused
    response = browser.basket().set("method", "ach").submit()
    assert response.status_code == 422
    assert 'id="method-error"' in response.text


def test_a_method_one_account_refuses_is_explained(browser: Browser, books: Books, firm) -> None:
    trust = next(a for a in firm.firm.merchant_accounts if a.kind is MerchantAccountKind.TRUST)
    trust.accepts_ach = False
    basket = choose(
        browser.basket(),
        invoices={books.new.id: "10"},
        trust={books.lawsuit.id: "20"},
        method="ach",
    )
    response = basket.submit()
    assert response.status_code == 422
    assert "Trust account (IOLTA) does not take bank payments." in text_of(response.text)


# -- declines, retries and limits ----------------------------------------------------------------


def test_a_declined_card_shows_why_and_try_again_keeps_the_basket(
    browser: Browser, books: Books, session
) -> None:
    basket = choose(
        browser.basket(), invoices={books.old.id: "1000.50"}, trust={books.lawsuit.id: "75"}
    )
    review = basket.submit()
    done = browser.form(review, "confirm").fill(DECLINED).submit()

    # then the review comes back, not a receipt: why in words, nothing charged, no "Paid by"
    assert done.status_code == 422
    page = text_of(done.text)
    assert "Review your payment" in page
    assert "Your card was declined. Nothing was charged." in page
    assert "Paid by" not in page
    assert "Print this receipt" not in page
    # the hold on the invoice is released
    assert books.old.reserved_minor == 0

    # the basket is kept (same lines, same amounts), under a new nonce; the card boxes are empty
    again = browser.form(done, "confirm")
    assert again.values("invoice") == [str(books.old.id)]
    assert again.value(f"invoice-{books.old.id}") == "1000.50"
    assert again.values("trust") == [str(books.lawsuit.id)]
    assert again.value(f"trust-{books.lawsuit.id}") == "75.00"
    assert again.values("method") == ["card"]
    assert again.value("card_number") == ""
    assert again.value("nonce") != browser.form(review, "confirm").value("nonce")
    # and this time it goes through, as a second payment
    done = again.fill(VISA).submit()
    assert "complete" in text_of(browser.get(location(done)).text)
    assert len(payments_of(session, books)) == 2

    # the declined payment's own page is still no receipt
    declined = next(p for p in payments_of(session, books) if p.charges[0].status.value == "failed")
    shown = text_of(browser.get(f"/payments/{declined.public_id}").text)
    assert "Your payment did not go through" in shown
    assert "Paid by" not in shown and "Print this receipt" not in shown


def test_the_sixth_decline_within_the_hour_gets_a_wait_page(
    browser: Browser, books: Books, session
) -> None:
    for _ in range(5):
        review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
        done = browser.form(review, "confirm").fill(DECLINED).submit()
        assert done.status_code == 422

    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    response = browser.form(review, "confirm").fill(DECLINED).submit()

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3600"
    assert "Please wait before trying again" in text_of(response.text)
    assert len(payments_of(session, books)) == 5


# -- one payment however often it is submitted ---------------------------------------------------


def test_the_same_nonce_twice_is_one_payment(browser: Browser, books: Books, session) -> None:
    review = choose(browser.basket(), invoices={books.new.id: "800"}).submit()
    confirm = browser.form(review, "confirm").fill(VISA)

    first = confirm.submit()
    second = confirm.submit()  # a double click, or the form sent again

    assert first.status_code == second.status_code == 303
    assert location(first) == location(second)
    (payment,) = payments_of(session, books)
    (charge,) = payment.charges
    intents = session.scalar(
        select(func.count(SandboxIntent.id)).where(
            SandboxIntent.merchant_account_id == charge.merchant_account_id
        )
    )
    assert intents == 1
    assert books.new.balance_due_minor == 0


def test_a_basket_paid_from_another_tab_goes_back_with_the_reason(
    browser: Browser, books: Books, session
) -> None:
    # given two tabs reviewing the same invoice
    tab_one = choose(browser.basket(), invoices={books.new.id: "800"}).submit()
    tab_two = choose(
        browser.basket(), invoices={books.new.id: "800"}, trust={books.estate.id: "40"}
    ).submit()
    assert browser.form(tab_one, "confirm").fill(VISA).submit().status_code == 303

    # when the second tab confirms
    response = browser.form(tab_two, "confirm").fill(VISA).submit()

    # then it is sent back to the basket with the reason, and its other entries kept
    assert response.status_code == 409
    assert "not open for payment here" in text_of(response.text)
    basket = browser.form(response, "basket")
    assert basket.values("trust") == [str(books.estate.id)]
    assert basket.value(f"trust-{books.estate.id}") == "40.00"
    assert len(payments_of(session, books)) == 1


# -- what the server refuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1200.01", "has $1,200.00 left to pay"),
        ("0", "Enter an amount above zero."),
        ("0.00", "Enter an amount above zero."),
        ("-5", "The amount cannot be negative."),
        ("abc", "Enter the amount as a number"),
        ("1e3", "Enter the amount as a number"),
        ("10.005", "Use at most 2 decimal places."),
        # An empty box on a ticked invoice pays it in full (test_client_flows.py); an empty
        # trust deposit is refused (test_a_total_is_applied_oldest_due_date_first).
    ],
)
def test_amounts_the_rules_refuse_come_back_with_every_entry_kept(
    browser: Browser, books: Books, session, typed: str, message: str
) -> None:
    # given one bad line among good ones
    basket = choose(
        browser.basket(),
        invoices={books.old.id: typed, books.new.id: "12.34"},
        trust={books.lawsuit.id: "55"},
    )

    # when
    response = basket.submit()

    # then the basket comes back with the message next to that field
    assert response.status_code == 422
    field = f"invoice-{books.old.id}"
    error = re.search(rf'id="{field}-error">([^<]*)<', response.text)
    assert error is not None
    assert message in html.unescape(error.group(1))
    assert f'aria-describedby="{field}-error"' in response.text
    # and everything typed is still there
    again = browser.form(response, "basket")
    assert again.value(field) == typed
    assert again.value(f"invoice-{books.new.id}") == "12.34"
    assert again.value(f"trust-{books.lawsuit.id}") == "55"
    assert sorted(again.values("invoice")) == sorted([str(books.old.id), str(books.new.id)])
    assert again.values("trust") == [str(books.lawsuit.id)]
    assert again.values("method") == ["card"]
    assert payments_of(session, books) == []


def test_another_clients_invoice_is_refused(browser: Browser, books: Books, session, firm) -> None:
    stranger = factories.client(firm)
    theirs = factories.invoice(factories.matter(stranger), total_minor=50_000)

    # forged into the basket
    response = (
        browser.basket().tick("invoice", str(theirs.id)).set(f"invoice-{theirs.id}", "500").submit()
    )
    assert response.status_code == 422
    assert "not open for payment here" in text_of(response.text)

    # and forged into the confirm form's hidden fields
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    confirm = browser.form(review, "confirm").fill(VISA)
    confirm.tick("invoice", str(theirs.id)).set(f"invoice-{theirs.id}", "500")
    response = confirm.submit()
    assert response.status_code in (409, 422)
    assert payments_of(session, books) == []
    assert theirs.reserved_minor == 0
    assert theirs.balance_due_minor == 50_000


def test_an_amount_changed_in_the_hidden_fields_is_judged_again(
    browser: Browser, books: Books, session
) -> None:
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    confirm = browser.form(review, "confirm").fill(VISA).set(f"invoice-{books.new.id}", "900")
    response = confirm.submit()
    assert response.status_code == 409
    assert "left to pay" in text_of(response.text)
    assert payments_of(session, books) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"card_number": "4242 4242 4242 4241"}, "card_number"),
        ({"card_number": ""}, "card_number"),
        ({"card_expiry": "13/30"}, "card_expiry"),
        ({"card_expiry": "01/20"}, "card_expiry"),
        ({"card_cvc": "12"}, "card_cvc"),
        ({"card_name": " "}, "card_name"),
    ],
)
def test_card_details_are_checked_before_anything_is_charged(
    browser: Browser, books: Books, session, changes: dict[str, str], field: str
) -> None:
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    response = browser.form(review, "confirm").fill({**VISA, **changes}).submit()
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert payments_of(session, books) == []


def test_missing_csrf_token_is_refused(browser: Browser, books: Books, session) -> None:
    basket = choose(browser.basket(), invoices={books.new.id: "10"})
    assert basket.submit(csrf=False).status_code == 400
    review = basket.submit()
    response = browser.form(review, "confirm").fill(VISA).submit(csrf=False)
    assert response.status_code == 400
    assert payments_of(session, books) == []


def test_a_malformed_nonce_charges_nothing(browser: Browser, books: Books, session) -> None:
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    response = browser.form(review, "confirm").fill(VISA).set("nonce", "x").submit()
    assert response.status_code == 422
    assert payments_of(session, books) == []


def test_the_pay_pages_need_a_link(client: FlaskClient, books: Books) -> None:
    assert client.get("/pay", base_url=BASE_URL).status_code == 401


# -- receipts ------------------------------------------------------------------------------------


def _paid(browser: Browser, books: Books) -> str:
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    return location(browser.form(review, "confirm").fill(VISA).submit())


def test_another_clients_receipt_is_not_found(
    browser: Browser, books: Books, client: FlaskClient, firm, other_firm
) -> None:
    receipt = _paid(browser, books)
    assert browser.get(receipt).status_code == 200

    # another client of the same firm
    neighbour = factories.client(firm)
    factories.invoice(factories.matter(neighbour))
    other = Browser(client)
    other.open(factories.link(neighbour))
    assert other.get(receipt).status_code == 404
    # a client of another firm
    stranger = factories.client(other_firm)
    other.open(factories.link(stranger))
    assert other.get(receipt).status_code == 404
    # and a made-up reference
    assert other.get("/payments/nope").status_code == 404


def test_no_card_number_reaches_a_page_or_the_log_after_paying(
    browser: Browser, books: Books, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mastercard = {**VISA, "card_number": "5555 5555 5555 4444", "card_cvc": "987"}
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    browser.seen.clear()

    # a details error first, then the payment
    bad = browser.form(review, "confirm").fill({**mastercard, "card_name": ""}).submit()
    assert bad.status_code == 422
    done = browser.form(bad, "confirm").fill(mastercard).submit()
    browser.get(location(done))
    browser.get("/matters")
    browser.get(f"/matters/{books.lawsuit.id}")

    for page in [*browser.seen, caplog.text]:
        flat = re.sub(r"[\s\u00a0-]", "", page)
        assert "5555555555554444" not in flat
        assert 'value="987"' not in page
    assert "Mastercard •••• 4444" in text_of(browser.seen[-3])


# -- pages: locale, markup and the Stripe variant ------------------------------------------------


def test_the_pages_render_in_spanish(client: FlaskClient, books: Books, session) -> None:
    books.client.locale = "es_US"
    browser = Browser(client)
    browser.open(books.link)

    page = browser.get("/pay")

    assert page.status_code == 200
    assert '<html lang="es-US">' in page.text
    assert "$1,200.00" in page.text
    review = choose(browser.form(page, "basket"), invoices={books.old.id: "1.200,00"}).submit()
    # es-US writes 1,200.00; a European-style amount is not silently misread
    assert review.status_code == 422
    review = choose(browser.basket(), invoices={books.old.id: "1,200.00"}).submit()
    assert review.status_code == 200
    done = browser.form(review, "confirm").fill(VISA).submit()
    assert browser.get(location(done)).status_code == 200


def test_no_pay_page_has_inline_script_or_style(browser: Browser, books: Books, session) -> None:
    pages = [browser.get("/pay").text]
    review = choose(browser.basket(), invoices={books.new.id: "10"}, method="ach").submit()
    pages.append(review.text)
    pages.append(browser.form(review, "confirm").fill(BANK).submit().text)  # 422, no mandate
    pages.append(browser.basket().set("total", "x").submit().text)  # 422
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    pages.append(review.text)
    done = browser.form(review, "confirm").fill(DECLINED).submit()
    pages.append(done.text)  # the review again, with why
    declined = payments_of(session, books)[-1]
    pages.append(browser.get(f"/payments/{declined.public_id}").text)
    pages.append(browser.get("/matters").text)
    pages.append(browser.get(f"/matters/{books.lawsuit.id}").text)

    for page in pages:
        assert "<style" not in page
        assert not re.search(r"\sstyle\s*=", page)
        assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handlers
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert re.fullmatch(
                r'<script nonce="[\w-]{24}" src="/static/js/[a-z-]+\.js" defer>', tag
            ), tag
        assert not re.search(r"<script[^>]*>\s*[^<\s]", page)  # nothing between the tags


def test_the_stripe_variant_loads_stripe_js_and_only_that(
    browser: Browser, books: Books, firm, app
) -> None:
    # given the operating account charges through Stripe
    operating = next(
        a for a in firm.firm.merchant_accounts if a.kind is MerchantAccountKind.OPERATING
    )
    operating.gateway = "stripe"
    app.config.update(STRIPE_SECRET_KEY="sk_test_123", STRIPE_PUBLISHABLE_KEY="pk_test_abc")

    basket = browser.get("/pay")
    review = choose(browser.form(basket, "basket"), invoices={books.new.id: "10"}).submit()

    # then the review renders the Payment Element instead of card inputs
    assert review.status_code == 200
    nonce = re.search(r"'nonce-([\w-]+)'", review.headers["Content-Security-Policy"])
    assert nonce is not None
    stripe_js = f'<script nonce="{nonce[1]}" src="https://js.stripe.com/v3/" defer></script>'
    assert stripe_js in review.text
    ours = f'<script nonce="{nonce[1]}" src="/static/js/stripe-pay.js" defer></script>'
    assert ours in review.text
    assert 'id="payment-element"' in review.text
    assert 'data-publishable-key="pk_test_abc"' in review.text
    assert 'name="payment_method_id"' in review.text
    assert 'name="card_number"' not in review.text
    # and only that page's CSP lets Stripe.js in
    csp = review.headers["Content-Security-Policy"]
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["script-src"] == (
        f"'nonce-{nonce[1]}' https://js.stripe.com https://*.js.stripe.com"
    )
    assert directives["frame-src"] == (
        "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
    )
    assert directives["connect-src"] == "'self' https://api.stripe.com"
    assert directives["style-src"] == "'self'"
    assert set(re.findall(r"https://[^\s;]+", csp)) == {
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
        "https://api.stripe.com",
    }
    assert 'payment=(self "https://js.stripe.com")' in review.headers["Permissions-Policy"]
    assert "stripe.com" not in basket.headers["Content-Security-Policy"]
    assert "payment=()" in basket.headers["Permissions-Policy"]
    assert "https://" not in basket.text.replace("https://localhost", "")


def test_the_sandbox_review_keeps_the_strict_policy(browser: Browser, books: Books) -> None:
    review = choose(browser.basket(), invoices={books.new.id: "10"}).submit()
    assert re.search(
        r"(^|; )script-src 'nonce-[\w-]+'(;|$)", review.headers["Content-Security-Policy"]
    )
    assert "stripe" not in review.text.lower().replace("stripe test bank", "")
    assert "4242 4242 4242 4242" in text_of(review.text)  # the sandbox note


# -- the matter pages ------------------------------------------------------------------------------


def test_the_matter_pages_offer_pay_and_show_what_is_processing(
    browser: Browser, books: Books, session
) -> None:
    # given a bank payment in flight on INV-NEW and a trust deposit
    review = choose(
        browser.basket(),
        invoices={books.new.id: "300"},
        trust={books.lawsuit.id: "250"},
        method="ach",
    ).submit()
    browser.form(review, "confirm").fill(BANK).set("mandate", "accepted").submit()

    matter = browser.get(f"/matters/{books.lawsuit.id}")
    page = text_of(matter.text)

    assert f'href="/pay?matter={books.lawsuit.id}"' in matter.text
    row = page[page.index("INV-NEW") : page.index("Recently paid")]
    assert "Payment processing: $300.00" in row
    # the pending deposit is shown, and not counted in the trust balance
    assert "Trust balance $2,000.00" in page
    assert "Deposits processing $250.00" in page
    assert "A deposit of $250.00 is processing." in page

    matters = text_of(browser.get("/matters").text)
    assert "Make a payment" in matters
    assert "$300.00 payment processing" in matters
    assert "$250.00 deposit processing, not in the balance yet" in matters

    # the basket from the matter page ticks nothing for the payer; each line says what it
    # suggests (pay.js fills it in when ticked): what is left on the invoice, and for trust
    # what is still short once the pending deposit clears (3,000 - 250)
    basket = browser.basket(f"/pay?matter={books.lawsuit.id}")
    assert basket.values("invoice") == []
    assert basket.value(f"invoice-{books.new.id}") == ""
    assert basket.value(f"trust-{books.lawsuit.id}") == ""
    shown = browser.seen[-1]
    assert 'data-suggested="500.00"' in shown
    assert 'data-suggested="2750.00"' in shown

    # once the bank settles, the deposit counts
    for charge in payments_of(session, books)[0].charges:
        settle_ach(charge.merchant_account_id)
    page = text_of(browser.get(f"/matters/{books.lawsuit.id}").text)
    assert "Trust balance $2,250.00" in page
    assert "processing" not in page


def test_a_portal_deposit_echoed_by_the_back_office_counts_once(
    browser: Browser, books: Books, session
) -> None:
    # given a card deposit of 250 (the portal appends its own trust entry) ...
    review = choose(browser.basket(), invoices={}, trust={books.lawsuit.id: "250"}).submit()
    browser.form(review, "confirm").fill(VISA).submit()
    from portal.ledger.models import TrustEntry

    portal_entry = session.scalar(
        select(TrustEntry).where(
            TrustEntry.matter_id == books.lawsuit.id, TrustEntry.source == "portal"
        )
    )
    # ... which the back office then records itself, superseding the portal's entry
    echo = factories.trust_entry(
        books.lawsuit,
        25_000,
        description="Deposit (firm)",
        source="back_office",
        charge_id=portal_entry.charge_id,
    )
    session.execute(
        TrustEntry.__table__.update()
        .where(TrustEntry.id == portal_entry.id)
        .values(superseded_by_id=echo.id)
    )

    page = text_of(browser.get(f"/matters/{books.lawsuit.id}").text)
    matters = text_of(browser.get("/matters").text)

    # then 2,000 + 250 once, not twice, and the superseded entry is not listed
    assert "Trust balance $2,250.00" in page
    assert "Deposit (firm)" in page
    assert "Portal deposit" not in page
    assert "$2,250.00" in matters
    assert "$2,500.00" not in matters


def test_https_post_with_same_origin_referer_passes_strict_csrf(app, client, session, firm):
    """Over HTTPS Flask-WTF also wants a same-host Referer; our same-origin policy sends it."""
    from portal.links import services as links
    from tests import factories

    person = factories.client(firm)
    factories.invoice(factories.matter(person))
    token = links.token_for(factories.link(person))
    https = {"base_url": "https://localhost"}
    client.get(f"/l/{token}", **https)
    page = client.get("/pay", **https).text
    csrf_token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": csrf_token, "action": "review", "method": "card"}
    # without a Referer (as under a no-referrer policy) the strict check refuses the post
    assert client.post("/pay/review", data=form, **https).status_code == 400
    # with the same-origin Referer a browser now sends, the post reaches the view
    answer = client.post(
        "/pay/review", data=form, headers={"Referer": "https://localhost/pay"}, **https
    )
    assert answer.status_code in (200, 422)


def test_pages_send_same_origin_and_the_link_redirect_sends_no_referrer(client, session, firm):
    from portal.links import services as links
    from tests import factories

    person = factories.client(firm)
    token = links.token_for(factories.link(person))
    opened = client.get(f"/l/{token}")
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    matters = client.get("/matters")
    assert matters.headers["Referrer-Policy"] == "same-origin"
    # and no <meta name="referrer"> overrides the header: a browser obeys the meta tag, and a
    # no-referrer there drops the Referer that strict CSRF needs over HTTPS (every post a 400)
    assert 'name="referrer"' not in matters.text


def test_a_matter_scoped_link_opens_no_receipt_of_the_clients_other_matters(
    browser: Browser, books: Books, client: FlaskClient
) -> None:
    # given a payment of the lawsuit's invoice through the client's link to every matter
    receipt = _paid(browser, books)
    assert browser.get(receipt).status_code == 200

    # when the same client opens a link scoped to the estate only
    estate_only = Browser(client)
    estate_only.open(factories.link(books.client, matters=[books.estate]))
    # then the lawsuit's receipt is not there for it
    assert estate_only.get(receipt).status_code == 404

    # while a link scoped to the lawsuit still sees it
    lawsuit_only = Browser(client)
    lawsuit_only.open(factories.link(books.client, matters=[books.lawsuit]))
    assert lawsuit_only.get(receipt).status_code == 200
