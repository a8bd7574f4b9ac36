"""An open trust request on the client's pages: it stands out on its matter, and "Pay this
request" leads into the pay flow with the request ticked at what is left on it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal import clock
from portal.firms.models import MerchantAccountKind
from portal.payments.models import Payment
from portal.trust_requests import services as trust_requests
from portal.trust_requests.models import TrustRequest, TrustRequestStatus
from tests.payments.test_views import VISA, Books, Browser, text_of
from tests.trust_requests.conftest import make_request

St = TrustRequestStatus


def _request(books: Books, amount: int = 250_000, **kw) -> TrustRequest:
    kw.setdefault("memo", "Retainer for the trial phase")
    kw.setdefault("due_on", clock.today() + dt.timedelta(days=10))
    return make_request(books.lawsuit, amount, **kw)


def test_an_open_request_stands_out_on_its_matter(browser: Browser, books: Books) -> None:
    request = _request(books)
    page = browser.get(f"/matters/{books.lawsuit.id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Your firm asks you for a trust deposit" in text
    assert "$2,500.00" in text
    assert "Retainer for the trial phase" in text
    assert (clock.today() + dt.timedelta(days=10)).strftime("%b") in text
    assert f'href="/pay?request={request.id}"' in page.text
    assert "Pay this request" in text
    # the request sits above the invoices, so it is seen first
    assert page.text.index("Pay this request") < page.text.index("Open invoices")
    # and only on its own matter
    other = browser.get(f"/matters/{books.estate.id}")
    assert "Pay this request" not in other.text


def test_paid_and_canceled_requests_are_not_shown(browser: Browser, books: Books) -> None:
    canceled = _request(books)
    trust_requests.cancel(firm_id=books.lawsuit.firm_id, public_id=canceled.public_id)
    page = browser.get(f"/matters/{books.lawsuit.id}")
    assert "Pay this request" not in page.text


def test_pay_this_request_preselects_a_trust_deposit_of_what_is_left(
    browser: Browser, books: Books, session
) -> None:
    request = _request(books)
    basket = browser.basket(f"/pay?request={request.id}")
    assert basket.values("request") == [str(request.id)]
    assert basket.value(f"request-{request.id}") == "2500.00"
    assert basket.values("invoice") == []  # nothing else is ticked
    assert basket.values("trust") == []

    # pay part of it
    basket.set(f"request-{request.id}", "1000.00")
    review = basket.submit()
    assert review.status_code == 200, text_of(review.text)
    review_text = text_of(review.text)
    assert "Trust request" in review_text and "Retainer for the trial phase" in review_text
    done = browser.form(review, "confirm").fill(VISA).submit()
    assert done.status_code == 303
    receipt = text_of(browser.get(done.headers["Location"].removeprefix("https://localhost")).text)
    assert "Trust request Retainer for the trial phase" in receipt

    payment = session.scalars(select(Payment).order_by(Payment.id.desc())).first()
    (charge,) = payment.charges
    assert charge.account_kind is MerchantAccountKind.TRUST
    assert charge.allocations[0].trust_request_id == request.id
    session.expire_all()
    assert session.get(TrustRequest, request.id).status is St.PARTIALLY_PAID

    # the matter page now shows what was paid and what is left
    page = text_of(browser.get(f"/matters/{books.lawsuit.id}").text)
    assert "Paid so far $1,000.00" in page
    assert "$1,500.00 left to pay" in page

    # and the next "Pay this request" offers exactly the rest
    again = browser.basket(f"/pay?request={request.id}")
    assert again.value(f"request-{request.id}") == "1500.00"
    done = browser.form(again.submit(), "confirm").fill(VISA).submit()
    assert done.status_code == 303
    session.expire_all()
    assert session.get(TrustRequest, request.id).status is St.PAID
    assert "Pay this request" not in browser.get(f"/matters/{books.lawsuit.id}").text


def test_typing_more_than_is_left_is_refused_on_the_page(
    browser: Browser, books: Books, session
) -> None:
    request = _request(books, 100_000)
    basket = browser.basket(f"/pay?request={request.id}")
    basket.set(f"request-{request.id}", "1000.01")
    refused = basket.submit()
    assert refused.status_code == 422
    assert "This trust request has $1,000.00 left to pay." in text_of(refused.text)
    assert session.scalars(select(Payment)).first() is None


def test_a_request_canceled_while_paying_is_refused_at_confirm(
    browser: Browser, books: Books, session
) -> None:
    request = _request(books, 100_000)
    review = browser.basket(f"/pay?request={request.id}").submit()
    assert review.status_code == 200
    trust_requests.cancel(firm_id=books.lawsuit.firm_id, public_id=request.public_id)
    answer = browser.form(review, "confirm").fill(VISA).submit()
    assert answer.status_code == 409
    assert "not open for payment" in text_of(answer.text)
    assert session.scalars(select(Payment)).first() is None


def test_a_forged_request_id_is_refused(browser: Browser, books: Books, firm, session) -> None:
    from tests import factories

    stranger = factories.matter(factories.client(firm), external_id="M-Z")
    theirs = make_request(stranger, 100_000)
    basket = browser.basket("/pay")
    basket.untick("invoice").tick("request", str(theirs.id)).set(f"request-{theirs.id}", "10.00")
    refused = basket.submit()
    assert refused.status_code == 422
    assert session.scalars(select(Payment)).first() is None


def test_the_matters_list_flags_a_matter_with_an_open_request(
    browser: Browser, books: Books
) -> None:
    assert "Your firm has asked for a trust deposit" not in browser.get("/matters").text
    request = _request(books)
    page = browser.get("/matters").text
    assert page.count("Your firm has asked for a trust deposit on this matter") == 1
    assert f'href="/matters/{books.lawsuit.id}">Your firm has asked' in page
    trust_requests.cancel(firm_id=books.lawsuit.firm_id, public_id=request.public_id)
    assert "Your firm has asked for a trust deposit" not in browser.get("/matters").text
