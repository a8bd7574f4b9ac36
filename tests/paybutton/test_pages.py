"""The public pay page /pay/<firm-slug>: an anonymous payer, a typed reference, one charge.

Driven like a browser without JavaScript (the forms are read from the rendered HTML and posted
with their CSRF token) through the offline sandbox gateway.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select

from portal import clock
from portal.billing.models import InvoiceStatus
from portal.firms.models import MerchantAccountKind
from portal.ledger.models import TrustEntry
from portal.payments.models import ChargeStatus, Payment
from portal.postings.models import OutboundMessage
from tests import factories
from tests.mailbox import parts
from tests.payments.test_views import BANK, BASE_URL, DECLINED, VISA, Browser, location, text_of
from tests.pdfs import pdf_text

S = ChargeStatus
PAYER = {"name": "Grace Parent", "email": "grace@example.com"}


@pytest.fixture
def browser(client) -> Browser:
    return Browser(client)


@pytest.fixture
def books(session, firm):
    person = factories.client(firm, name="Ada Client", email="ada@example.com")
    lawsuit = factories.matter(person, number="2026-001", title="Client v. Northside")
    today = clock.today()
    invoice = factories.invoice(
        lawsuit, number="INV-1001", total_minor=50_000, due_on=today + dt.timedelta(days=10)
    )
    return {"firm": firm.firm, "client": person, "matter": lawsuit, "invoice": invoice}


def start(browser: Browser, slug: str, kind: str | None = None):
    path = f"/pay/{slug}" + (f"?kind={kind}" if kind else "")
    response = browser.get(path)
    assert response.status_code == 200, response.text
    return browser.form(response, "public-pay")


def review(
    browser: Browser,
    slug: str,
    *,
    reference: str,
    amount: str,
    method: str = "card",
    kind: str | None = None,
    client_name: str | None = None,
):
    form = start(browser, slug, kind)
    form.fill({**PAYER, "reference": reference, "amount": amount, "method": method})
    if client_name is not None:
        form.set("client_name", client_name)
    return form.submit()


def pay(browser: Browser, slug: str, *, details=VISA, **typed):
    response = review(browser, slug, **typed)
    assert response.status_code == 200, text_of(response.text)
    confirm = browser.form(response, "confirm").fill(details)
    if typed.get("method") == "ach":
        confirm.set("mandate", "accepted")
    return response, confirm.submit()


def payments_of(firm_id: int) -> list[Payment]:
    from portal.db import db

    return list(db.session.scalars(select(Payment).where(Payment.firm_id == firm_id)))


def test_an_open_invoice_is_paid_by_a_stranger_who_sees_only_what_they_typed(browser, books):
    firm = books["firm"]
    reviewed, done = pay(browser, firm.slug, reference="inv-1001", amount="200.00")
    page = text_of(reviewed.text)
    assert "for reference inv-1001" in page
    assert "only what is due is charged" in page
    # Nothing the payer did not type: no balance, no matter title, no client name.
    assert "500.00" not in page and "Northside" not in page and "Ada Client" not in page
    assert done.status_code == 303
    receipt = browser.get(location(done))
    assert receipt.status_code == 200
    text = text_of(receipt.text)
    assert "Thank you: your payment is complete" in text
    assert "$200.00" in text and "inv-1001" in text
    assert "$300.00" not in text and "Northside" not in text and "Ada Client" not in text
    (payment,) = payments_of(firm.id)
    assert payment.client_id == books["client"].id
    assert payment.payer_name == "Grace Parent" and payment.payer_reference == "inv-1001"
    (charge,) = payment.charges
    assert charge.status is S.SUCCEEDED
    assert charge.account_kind is MerchantAccountKind.OPERATING
    assert [(a.invoice_id, a.amount_minor) for a in charge.allocations] == [
        (books["invoice"].id, 20_000)
    ]
    assert books["invoice"].balance_due_minor == 30_000


def test_more_than_the_balance_is_capped_at_what_is_due(browser, books):
    firm = books["firm"]
    reviewed, done = pay(browser, firm.slug, reference="INV-1001", amount="900")
    # The review never shows the balance: it repeats the typed amount, "up to".
    assert "$500.00" not in text_of(reviewed.text)
    assert "Pay up to $900.00" in text_of(reviewed.text)
    (payment,) = payments_of(firm.id)
    assert payment.total_minor == 50_000
    assert payment.charges[0].allocations[0].amount_minor == 50_000
    assert books["invoice"].status is InvoiceStatus.PAID
    assert "$500.00" in text_of(browser.get(location(done)).text)


def test_an_unmatched_reference_goes_to_operating_flagged_for_the_firm(browser, books):
    firm = books["firm"]
    reviewed, done = pay(browser, firm.slug, reference="NO-SUCH-1", amount="75.50")
    # The same words as for an open invoice: a stranger learns nothing from the review.
    assert "for reference NO-SUCH-1" in text_of(reviewed.text)
    assert "Pay up to $75.50" in text_of(reviewed.text)
    assert done.status_code == 303
    (payment,) = payments_of(firm.id)
    assert payment.client_id is None
    (charge,) = payment.charges
    assert charge.status is S.SUCCEEDED and charge.allocations == []
    assert charge.amount_minor == 7_550 and charge.unapplied_minor == 7_550
    assert charge.account_kind is MerchantAccountKind.OPERATING
    assert [flag.code for flag in payment.flags] == ["unmatched"]
    from portal.db import db

    messages = db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
    data = [json.loads(m.payload)["data"] for m in messages if m.type.startswith("payment.")]
    assert data and data[-1]["unmatched"] is True
    assert data[-1]["payer_reference"] == "NO-SUCH-1" and data[-1]["client"]["external_id"] is None
    assert books["invoice"].balance_due_minor == 50_000


def test_a_paid_invoice_number_is_unmatched_not_paid_twice(browser, books, session):
    books["invoice"].status = InvoiceStatus.PAID
    books["invoice"].balance_due_minor = 0
    session.flush()
    pay(browser, books["firm"].slug, reference="INV-1001", amount="20")
    (payment,) = payments_of(books["firm"].id)
    assert payment.charges[0].allocations == [] and payment.flags[0].code == "unmatched"


def test_another_firms_invoice_number_is_never_matched(browser, books, other_firm):
    pay(browser, other_firm.firm.slug, reference="INV-1001", amount="20")
    (payment,) = payments_of(other_firm.id)
    assert payment.client_id is None and payment.charges[0].allocations == []
    assert books["invoice"].balance_due_minor == 50_000


def test_double_submit_charges_once(browser, books):
    firm = books["firm"]
    response = review(browser, firm.slug, reference="INV-1001", amount="100")
    confirm = browser.form(response, "confirm").fill(VISA)
    first, second = confirm.submit(), confirm.submit()
    assert location(first) == location(second)
    assert len(payments_of(firm.id)) == 1
    assert books["invoice"].balance_due_minor == 40_000


def test_a_trust_deposit_needs_the_firm_to_offer_it(browser, books):
    slug = books["firm"].slug
    assert browser.get(f"/pay/{slug}?kind=trust").status_code == 404
    form = start(browser, slug)
    form.fill({**PAYER, "reference": "2026-001", "amount": "100", "kind": "trust"})
    assert form.submit().status_code == 404
    assert payments_of(books["firm"].id) == []


def test_a_trust_deposit_goes_to_the_matters_trust(browser, books, session):
    firm = books["firm"]
    firm.public_trust_deposits = True
    session.flush()
    reviewed, done = pay(
        browser,
        firm.slug,
        kind="trust",
        reference="2026-001",
        client_name="  ada   CLIENT ",
        amount="250",
    )
    assert "trust account for matter 2026-001" in text_of(reviewed.text)
    (payment,) = payments_of(firm.id)
    (charge,) = payment.charges
    assert charge.account_kind is MerchantAccountKind.TRUST and charge.status is S.SUCCEEDED
    assert charge.allocations[0].matter_id == books["matter"].id
    from portal.db import db

    entries = db.session.scalars(
        select(TrustEntry.amount_minor).where(TrustEntry.matter_id == books["matter"].id)
    ).all()
    assert entries == [25_000]
    assert "Into the firm's trust account" in text_of(browser.get(location(done)).text)


def _trust_refusal(browser, slug: str, **typed) -> tuple[int, str]:
    response = review(browser, slug, kind="trust", amount="250", **typed)
    page = text_of(response.text)
    for value in typed.values():  # what was typed is repeated in the boxes; the rest must agree
        page = page.replace(value, "…")
    return response.status_code, page


def test_a_trust_deposit_is_refused_alike_for_an_unknown_matter_or_a_wrong_client_name(
    browser, books, session
):
    # given a firm taking public trust deposits, with matter 2026-001 of client Ada Client
    books["firm"].public_trust_deposits = True
    session.flush()
    slug = books["firm"].slug

    # when a stranger tries an unknown matter, the real matter with a wrong name, and no name
    unknown = _trust_refusal(browser, slug, reference="9999", client_name="Ada Client")
    wrong_name = _trust_refusal(browser, slug, reference="2026-001", client_name="Bob Other")
    other_unknown = _trust_refusal(browser, slug, reference="1234", client_name="Bob Other")

    # then every answer is the same refusal: which matter numbers exist stays unknown
    assert unknown[0] == wrong_name[0] == other_unknown[0] == 422
    assert "Check the matter number and the client's name" in unknown[1]
    assert unknown[1] == wrong_name[1] == other_unknown[1]
    # and without a client's name nothing is looked up at all
    nameless = review(browser, slug, kind="trust", reference="2026-001", amount="250")
    assert nameless.status_code == 422 and "Enter the client's name" in text_of(nameless.text)
    assert payments_of(books["firm"].id) == []


def _same_page(text: str, *typed: str) -> str:
    """A page with what was typed, and the per-request tokens, blanked out."""
    for value in typed:
        text = text.replace(value, "…")
    text = re.sub(r'name="(csrf_token|nonce)" (type="hidden" )?value="[^"]*"', "token", text)
    text = re.sub(r'value="[^"]{20,}"', "token", text)
    text = re.sub(r"nonce-[\w-]+|nonce=\"[^\"]*\"", "nonce", text)
    text = re.sub(r"P-[0-9A-Z]{4}-[0-9A-Z]{4}", "number", text)  # the payment number
    # the receipt's time of day: the two payments are seconds apart
    return re.sub(r"\d{1,2}:\d{2}(:\d{2})?\s?[AP]M", "time", text)


def test_a_declined_probe_learns_neither_the_balance_nor_whether_the_invoice_exists(
    browser, books, app
):
    # given an open invoice INV-1001 with $500.00 due
    slug = books["firm"].slug
    answers = {}
    for reference in ("INV-1001", "NO-SUCH-9"):
        # when a stranger types its number (or another) with a huge amount and a declining card
        reviewed, done = pay(
            browser, slug, reference=reference, amount="999,999.00", details=DECLINED
        )
        receipt = browser.get(location(done))
        answers[reference] = (reviewed, done, receipt)

    matched, unmatched = answers["INV-1001"], answers["NO-SUCH-9"]
    # then the receipt shows only what was typed, never the balance, also to the opener window
    page = text_of(matched[2].text)
    assert "did not go through" in page
    assert "$999,999.00" in page and "$500.00" not in page
    assert "99999900" in matched[2].text and "50000" not in matched[2].text.replace("999", "")
    # and every answer on the way reads the same for the open invoice and the unknown reference
    for step in range(3):
        assert matched[step].status_code == unmatched[step].status_code
    assert _same_page(text_of(matched[0].text), "INV-1001") == _same_page(
        text_of(unmatched[0].text), "NO-SUCH-9"
    )
    ids = [location(answer[1]).rsplit("/", 1)[1] for answer in (matched, unmatched)]
    assert _same_page(text_of(matched[2].text), "INV-1001", ids[0]) == _same_page(
        text_of(unmatched[2].text), "NO-SUCH-9", ids[1]
    )
    # while the firm's side is unchanged: no allocation was left holding the invoice
    assert books["invoice"].reserved_minor == 0 and books["invoice"].balance_due_minor == 50_000


def test_a_succeeded_capped_payment_shows_what_was_taken(browser, books):
    _reviewed, done = pay(browser, books["firm"].slug, reference="INV-1001", amount="999,999")
    page = text_of(browser.get(location(done)).text)
    assert "Thank you" in page and "$500.00" in page and "$999,999.00" not in page


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("4.99", "The smallest payment here is $5.00"),
        ("0", "Enter an amount above zero"),
        ("-5", "cannot be negative"),
        ("12.345", "at most 2 decimal places"),
        ("ten", "Enter the amount as a number"),
        ("", "Enter an amount"),
    ],
)
def test_amounts_below_the_minimum_or_unreadable_are_refused(browser, books, amount, message):
    response = review(browser, books["firm"].slug, reference="INV-1001", amount=amount)
    assert response.status_code == 422
    assert message in text_of(response.text)
    assert payments_of(books["firm"].id) == []


def test_the_amount_is_read_in_the_pages_locale(browser, books, client):
    form = start(browser, books["firm"].slug)
    form.fill({**PAYER, "reference": "INV-1001", "amount": "$1,234.50"})
    response = client.post(
        f"/pay/{books['firm'].slug}/review",
        data=dict(form.fields),
        base_url=BASE_URL,
        headers={"Accept-Language": "es-US,es;q=0.9", "Referer": f"{BASE_URL}/pay"},
    )
    assert response.status_code == 200, text_of(response.text)
    assert 'name="amount" value="1234.50"' in response.text
    assert '<html lang="es-US">' in response.text


def test_the_form_speaks_the_pages_language(browser, books, client):
    # The form's labels and messages are module-level lazy strings: they must reach the catalog.
    spanish = {"Accept-Language": "es-US,es;q=0.9"}
    page = client.get(f"/pay/{books['firm'].slug}", headers=spanish, base_url=BASE_URL)
    shown = text_of(page.text)
    for words in (
        "Su nombre",
        "Número de factura o de asunto",
        "Forma de pago",
        "Pague su factura",
    ):
        assert words in shown
    form = start(browser, books["firm"].slug)
    form.fill({**PAYER, "name": "", "reference": "INV-1001", "amount": "20"})
    response = client.post(
        f"/pay/{books['firm'].slug}/review",
        data=dict(form.fields),
        base_url=BASE_URL,
        headers={**spanish, "Referer": f"{BASE_URL}/pay"},
    )
    assert response.status_code == 422
    assert "Ingrese su nombre." in text_of(response.text)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Enter your name"),
        ("email", "not-an-email", "Enter a valid email address"),
        ("reference", "", "Enter the reference"),
        ("method", "bitcoin", "Not a valid choice"),
    ],
)
def test_missing_or_bad_details_are_refused(browser, books, field, value, message):
    form = start(browser, books["firm"].slug)
    form.fill({**PAYER, "reference": "INV-1001", "amount": "20", field: value})
    response = form.submit()
    assert response.status_code == 422
    assert message in text_of(response.text)


def test_a_post_without_the_csrf_token_is_refused(browser, books):
    form = start(browser, books["firm"].slug)
    form.fill({**PAYER, "reference": "INV-1001", "amount": "20"})
    assert form.submit(csrf=False).status_code == 400


def test_a_forged_nonce_charges_nothing(browser, books):
    response = review(browser, books["firm"].slug, reference="INV-1001", amount="20")
    confirm = browser.form(response, "confirm").fill(VISA).set("nonce", "short")
    answer = confirm.submit()
    assert answer.status_code == 422
    assert payments_of(books["firm"].id) == []


def test_bad_card_details_show_the_review_again(browser, books):
    response = review(browser, books["firm"].slug, reference="INV-1001", amount="20")
    answer = browser.form(response, "confirm").fill({**VISA, "card_number": "4242"}).submit()
    assert answer.status_code == 422
    assert "not a valid card number" in text_of(answer.text)
    assert payments_of(books["firm"].id) == []


def test_a_declined_card_shows_a_failed_receipt_and_releases_the_invoice(browser, books):
    _reviewed, done = pay(
        browser, books["firm"].slug, reference="INV-1001", amount="20", details=DECLINED
    )
    receipt = browser.get(location(done))
    assert "did not go through" in text_of(receipt.text)
    assert books["invoice"].reserved_minor == 0 and books["invoice"].balance_due_minor == 50_000


def test_ach_needs_the_mandate_and_then_processes(browser, books):
    response = review(browser, books["firm"].slug, reference="INV-1001", amount="20", method="ach")
    confirm = browser.form(response, "confirm").fill(BANK)
    refused = confirm.submit()
    assert refused.status_code == 422 and "authorize the bank debit" in text_of(refused.text)
    done = confirm.set("mandate", "accepted").submit()
    assert done.status_code == 303
    (payment,) = payments_of(books["firm"].id)
    assert payment.mandate_text and "$20.00" in payment.mandate_text


def test_a_receipt_is_shown_only_to_the_browser_that_paid(browser, books, app):
    _reviewed, done = pay(browser, books["firm"].slug, reference="INV-1001", amount="20")
    other = Browser(app.test_client())
    assert other.get(location(done)).status_code == 404
    assert browser.get(location(done)).status_code == 200


def test_an_unknown_firm_is_not_found(browser, books):
    assert browser.get("/pay/no-such-firm").status_code == 404


def test_the_hosted_page_may_not_be_framed_but_keeps_its_opener(browser, books):
    response = browser.get(f"/pay/{books['firm'].slug}")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cross-Origin-Opener-Policy"] == "unsafe-none"
    assert "<iframe" not in response.text


def test_the_receipt_posts_only_to_registered_origins(browser, books, session):
    firm = books["firm"]
    firm.website_origins = ["https://www.okafor.example", "https://pay.okafor.example"]
    session.flush()
    _reviewed, done = pay(browser, firm.slug, reference="INV-1001", amount="20")
    page = browser.get(location(done)).text
    assert 'data-origins="https://www.okafor.example https://pay.okafor.example"' in page
    assert "paybutton-done.js" in page and "<script>" not in page
    assert "matterpay:payment" in page


def test_the_ip_limit_stops_card_testing(browser, books, app):
    app.config["RATELIMIT_PAY_BUTTON_IP"] = "2 per minute"
    from portal.limits import limiter

    limiter.reset()
    for _ in range(2):
        assert review(browser, books["firm"].slug, reference="X", amount="20").status_code == 200
    refused = review(browser, books["firm"].slug, reference="X", amount="20")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    limiter.reset()


def test_the_firm_limit_counts_every_ip_together(browser, books, app, client):
    app.config["RATELIMIT_PAY_BUTTON_FIRM"] = "2 per minute"
    from portal.limits import limiter

    limiter.reset()
    slug = books["firm"].slug
    codes = []
    for n in range(3):
        form = start(browser, slug).fill({**PAYER, "reference": "X", "amount": "20"})
        response = client.post(
            f"/pay/{slug}/review",
            data=dict(form.fields),
            base_url=BASE_URL,
            environ_base={"REMOTE_ADDR": f"203.0.113.{n + 1}"},
            headers={"Referer": f"{BASE_URL}/pay"},
        )
        codes.append(response.status_code)
    assert codes == [200, 200, 429]
    limiter.reset()


def test_declines_pause_further_attempts_from_the_ip(browser, books, app):
    app.config["PAYMENT_FAILURES_PER_IP_PER_HOUR"] = 1
    pay(browser, books["firm"].slug, reference="INV-1001", amount="20", details=DECLINED)
    _reviewed, answer = pay(browser, books["firm"].slug, reference="INV-1001", amount="20")
    assert answer.status_code == 429
    assert len(payments_of(books["firm"].id)) == 1


def test_the_firm_sees_the_unmatched_payment_through_the_api(browser, books, api):
    pay(browser, books["firm"].slug, reference="LOOSE-7", amount="20")
    listed = api.get("/api/v1/payments").get_json()["data"]
    (item,) = listed
    assert item["client"] is None and item["payer_reference"] == "LOOSE-7"
    assert [flag["code"] for flag in item["flags"]] == ["unmatched"]


def test_the_payer_gets_a_receipt_email_in_the_firms_name_and_colour(browser, books, session, smtp):
    books["firm"].brand_colour = "#5a1f3a"
    session.flush()
    pay(browser, books["firm"].slug, reference="INV-1001", amount="20")
    (message,) = smtp.messages
    assert message["To"] == "grace@example.com"
    assert "Okafor & Lindqvist LLP" in message["Subject"]
    text, html = parts(message)
    assert "Okafor & Lindqvist LLP" in text and "$20.00" in text
    assert "background: #5a1f3a; color: #ffffff;" in html
    assert "Northside" not in text + html and "$480.00" not in text + html
    (pdf,) = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
    document = pdf_text(pdf.get_payload(decode=True))
    assert "$20.00" in document and "INV-1001" in document
    assert "Northside" not in document and "$480.00" not in document and "2026-001" not in document


def test_the_stripe_variant_uses_stripe_js_on_the_hosted_page(browser, books, app):
    operating = next(
        a for a in books["firm"].merchant_accounts if a.kind is MerchantAccountKind.OPERATING
    )
    operating.gateway = "stripe"
    app.config.update(STRIPE_SECRET_KEY="sk_test_123", STRIPE_PUBLISHABLE_KEY="pk_test_abc")
    reviewed = review(browser, books["firm"].slug, reference="INV-1001", amount="20")
    assert reviewed.status_code == 200
    assert 'data-publishable-key="pk_test_abc"' in reviewed.text
    assert 'name="card_number"' not in reviewed.text
    csp = reviewed.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([\w-]+)' https://js\.stripe\.com( |;)", csp)
    assert nonce is not None, csp
    assert f'<script nonce="{nonce[1]}" src="https://js.stripe.com/v3/" defer>' in reviewed.text
    assert "frame-ancestors 'none'" in csp
    # Without the payment method Stripe.js would have created, nothing is charged.
    answer = browser.form(reviewed, "confirm").submit()
    assert answer.status_code == 422
    assert "Enter your payment details" in text_of(answer.text)
    assert payments_of(books["firm"].id) == []


def test_two_open_invoices_with_one_number_are_not_guessed_between(browser, books):
    other = factories.matter(books["client"], number="2026-009")
    factories.invoice(other, number="INV-1001", total_minor=10_000)
    pay(browser, books["firm"].slug, reference="INV-1001", amount="20")
    (payment,) = payments_of(books["firm"].id)
    assert payment.charges[0].allocations == [] and payment.flags[0].code == "unmatched"


def test_a_method_the_account_does_not_take_is_neither_offered_nor_accepted(browser, books):
    operating = next(
        a for a in books["firm"].merchant_accounts if a.kind is MerchantAccountKind.OPERATING
    )
    operating.accepts_ach = False
    page = browser.get(f"/pay/{books['firm'].slug}")
    assert 'value="ach"' not in page.text and 'value="card"' in page.text
    response = review(browser, books["firm"].slug, reference="INV-1001", amount="20", method="ach")
    assert response.status_code == 422
    assert payments_of(books["firm"].id) == []


def test_a_link_may_fill_the_reference_and_amount(browser, books):
    slug = books["firm"].slug
    form = start(browser, slug, None)
    assert form.value("reference") == "" and form.value("amount") == ""
    response = browser.get(f"/pay/{slug}?reference=INV-1001&amount=125.00")
    filled = browser.form(response, "public-pay")
    assert filled.value("reference") == "INV-1001" and filled.value("amount") == "125.00"
    assert payments_of(books["firm"].id) == []


def test_the_ip_limit_counts_reviews_and_confirms_together(browser, books, app):
    # given a budget of three posts a minute per address
    app.config["RATELIMIT_PAY_BUTTON_IP"] = "3 per minute"
    from portal.limits import limiter

    limiter.reset()
    slug = books["firm"].slug
    # when one address reviews twice, confirms once, then reviews again
    reviewed = review(browser, slug, reference="X", amount="20")
    again = review(browser, slug, reference="X", amount="20")
    confirmed = browser.form(again, "confirm").fill(VISA).submit()
    last = review(browser, slug, reference="X", amount="20")
    # then the fourth post is over the one budget both steps share
    assert [reviewed.status_code, again.status_code, confirmed.status_code] == [200, 200, 303]
    assert last.status_code == 429
    limiter.reset()


def test_declines_from_many_addresses_pause_the_firms_page(browser, books, app, client):
    # given a firm that tolerates two declines an hour on its public page
    app.config["PAYMENT_FAILURES_PER_FIRM_PER_HOUR"] = 2
    slug = books["firm"].slug

    def attempt(n: int, details) -> int:
        address = {"REMOTE_ADDR": f"198.51.100.{n}"}
        form = start(browser, slug).fill({**PAYER, "reference": "INV-1001", "amount": "20"})
        reviewed = client.post(
            f"/pay/{slug}/review",
            data=dict(form.fields),
            base_url=BASE_URL,
            environ_base=address,
            headers={"Referer": f"{BASE_URL}/pay"},
        )
        confirm = browser.form(reviewed, "confirm").fill(details)
        answer = client.post(
            f"/pay/{slug}/confirm",
            data=dict(confirm.fields),
            base_url=BASE_URL,
            environ_base=address,
            headers={"Referer": f"{BASE_URL}/pay"},
        )
        return answer.status_code

    # when a card tester declines twice, each time from a new address
    assert [attempt(1, DECLINED), attempt(2, DECLINED)] == [303, 303]
    # then a third address is paused too, even with a good card
    assert attempt(3, VISA) == 429
    assert len(payments_of(books["firm"].id)) == 2


def test_a_processing_bank_payment_emails_only_what_was_typed(browser, books, smtp):
    # given a stranger's bank debit naming INV-1001 ($500.00 due) for far more than is due
    pay(
        browser,
        books["firm"].slug,
        reference="INV-1001",
        amount="999,999.00",
        method="ach",
        details=BANK,
    )
    # then the "processing" email (sent to whatever address was typed) tells no balance and
    # no invoice: only what was typed, as the page does, until the debit clears
    (message,) = smtp.messages
    text, html = parts(message)
    assert "$999,999.00" in text and "$999,999.00" in html
    assert "$500.00" not in text + html and "Invoice INV-1001" not in text + html


def test_a_page_opened_in_the_sites_language_keeps_it_to_the_receipt_email(
    browser, books, session, smtp
):
    # given: the invoice's client reads English; the payer came from the firm's Spanish site
    books["client"].locale = "en_US"
    session.flush()
    page = browser.get(f"/pay/{books['firm'].slug}?lang=es_US")
    assert '<html lang="es-US">' in page.text and "Pague su factura" in page.text

    # when
    form = browser.form(page, "public-pay").fill(
        {**PAYER, "reference": "INV-1001", "amount": "20", "method": "card"}
    )
    reviewed = form.submit()
    assert '<html lang="es-US">' in reviewed.text
    browser.form(reviewed, "confirm").fill(VISA).submit()

    # then: the payment keeps the page's language, and the receipt email is in it
    (payment,) = payments_of(books["firm"].id)
    assert payment.payer_locale == "es_US"
    (message,) = smtp.messages
    text, html = parts(message)
    assert "Gracias por su pago." in text
    assert '<html lang="es-US">' in html


def test_a_french_page_reads_french_amounts(browser, books, session):
    page = browser.get(f"/pay/{books['firm'].slug}?lang=fr_CA")
    assert '<html lang="fr-CA">' in page.text
    form = browser.form(page, "public-pay").fill(
        {**PAYER, "reference": "INV-1001", "amount": "1\u202f2,50 $ US", "method": "card"}
    )
    refused = form.submit()
    assert refused.status_code == 422  # a group of one digit is not how French writes amounts
    form = browser.form(browser.get(f"/pay/{books['firm'].slug}"), "public-pay").fill(
        {**PAYER, "reference": "INV-1001", "amount": "12,50 $ US", "method": "card"}
    )
    reviewed = form.submit()
    assert reviewed.status_code == 200, text_of(reviewed.text)
    assert "12,50\xa0$\xa0US" in reviewed.text
