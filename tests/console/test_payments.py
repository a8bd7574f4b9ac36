"""The console's money pages: the dashboard's figures, the Payment Manager (filters, sort,
pages, CSV of exactly the page shown), a payment's page with refunds and the receipt, and who
may open them."""

from __future__ import annotations

import csv
import io
import re

import flask_babel
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.console import payment_list
from portal.mail.models import OutgoingEmail
from portal.payments import receipts
from portal.payments.models import Payment, Refund
from tests import factories
from tests.api.payment_books import make_book
from tests.api.unmatched_books import public_payment
from tests.console.conftest import BASE_URL, Console, Person, make_person
from tests.payments.conftest import DECLINED, Book, pay

_ROW = re.compile(r'<tr data-payment="([^"]+)">')
_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey, admin: Person) -> Book:
    return make_book(firm)


@pytest.fixture
def paid(book: Book) -> list[Payment]:
    """$10.00 to an invoice, $20.00 into trust, and a declined $30.00, in that order."""
    invoice = pay(book, invoices={book.new.id: 1_000})
    trust = pay(book, trust={book.matter.id: 2_000})
    declined = pay(book, invoices={book.old.id: 3_000}, instrument=DECLINED)
    return [invoice, trust, declined]


def _ids(page: str) -> list[str]:
    return _ROW.findall(page)


def _signed_in(console: Console, person: Person) -> Console:
    console.sign_in_as(person)
    return console


def test_the_dashboard_shows_money_per_account_and_what_needs_a_person(
    console: Console, admin: Person, book: Book, paid: list[Payment], firm: factories.FirmWithKey
) -> None:
    public_payment(firm.firm, "INV-1O01", 25_000)
    page = _signed_in(console, admin).get("/console/").get_data(as_text=True)
    operating = page.split('id="account-operating-USD"', 1)[1].split("</tr>", 1)[0]
    trust = page.split('id="account-trust-USD"', 1)[1].split("</tr>", 1)[0]
    # the invoice payment and the unmatched one went to operating; the deposit to trust
    assert operating.count("$260.00") == 3
    assert trust.count("$20.00") == 3
    unmatched = page.split('id="unmatched-payments"', 1)[1].split("</li>", 1)[0]
    assert 'href="/console/unmatched"' in unmatched
    assert "1 unmatched payment" in unmatched
    assert "0 held postings" in page


def test_the_list_leaves_declines_out_unless_asked_and_filters(
    console: Console, admin: Person, paid: list[Payment]
) -> None:
    invoice, trust, declined = (p.public_id for p in paid)
    _signed_in(console, admin)
    assert _ids(console.get("/console/payments").get_data(as_text=True)) == [trust, invoice]
    with_declines = console.get("/console/payments?declines=y&sort=date").get_data(as_text=True)
    assert _ids(with_declines) == [invoice, trust, declined]
    only_trust = console.get("/console/payments?account_kind=trust").get_data(as_text=True)
    assert _ids(only_trust) == [trust]
    over_15 = console.get("/console/payments?amount_min=15.00").get_data(as_text=True)
    assert _ids(over_15) == [trust]
    by_invoice = console.get("/console/payments?invoice=INV-NEW").get_data(as_text=True)
    assert _ids(by_invoice) == [invoice]
    failed = console.get("/console/payments?status=failed&declines=y").get_data(as_text=True)
    assert _ids(failed) == [declined]
    largest = console.get("/console/payments?sort=-amount&declines=y").get_data(as_text=True)
    assert _ids(largest) == [declined, trust, invoice]


def test_a_wrong_filter_comes_back_next_to_its_field_with_what_was_typed(
    console: Console, admin: Person, paid: list[Payment]
) -> None:
    response = _signed_in(console, admin).get(
        "/console/payments?amount_min=ten+dollars&created_from=2026-12-05&created_to=2026-12-01"
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'value="ten dollars"' in page
    assert "Enter an amount, like 1,250.00." in page
    assert "This day is before the first day." in page
    assert _ids(page) == []


def test_the_csv_holds_exactly_the_rows_shown_page_by_page(
    console: Console, admin: Person, paid: list[Payment], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payment_list, "PAGE_SIZE", 2)
    _signed_in(console, admin)
    first = console.get("/console/payments?declines=y&sort=date").get_data(as_text=True)
    assert _ids(first) == [p.public_id for p in paid[:2]]
    export = re.search(r'id="export-csv" href="([^"]+)"', first)
    assert export is not None
    answer = console.get(export.group(1).replace("&amp;", "&"))
    assert answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0][:4] == ["payment", "created_at", "created_on", "status"]
    assert [row[0] for row in rows[1:]] == _ids(first)
    assert [row[8] for row in rows[1:]] == ["1000", "2000"]
    # the next page, and its CSV
    following = re.search(r'id="next-page" href="([^"]+)"', first)
    assert following is not None
    second = console.get(following.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _ids(second) == [paid[2].public_id]
    export = re.search(r'id="export-csv" href="([^"]+)"', second)
    assert export is not None
    rows = list(csv.reader(io.StringIO(console.get(export.group(1).replace("&amp;", "&")).text)))
    assert [row[0] for row in rows[1:]] == [paid[2].public_id]


def test_a_payments_page_shows_charges_allocations_history_and_flags(
    console: Console, admin: Person, paid: list[Payment], firm: factories.FirmWithKey
) -> None:
    _signed_in(console, admin)
    page = console.get(f"/console/payments/{paid[1].public_id}").get_data(as_text=True)
    assert "Trust for matter M-1" in page
    assert "$20.00" in page
    assert "Succeeded" in page.split('id="timeline"', 1)[1]
    stray = public_payment(firm.firm, "INV-1O01", 25_000)
    flagged = console.get(f"/console/payments/{stray.public_id}").get_data(as_text=True)
    assert "unmatched" in flagged.split('id="flags"', 1)[1]


def _confirm_page_form(page: str) -> dict[str, str]:
    fields = {}
    for tag in _HIDDEN.findall(page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


def _from(path: str) -> dict[str, str]:
    return {"Referer": BASE_URL + path + "/refund"}


def _refunds(session: Session, payment: Payment) -> list[tuple[int, int]]:
    rows = session.execute(
        select(Refund.allocation_id, Refund.amount_minor)
        .where(Refund.charge_id.in_([c.id for c in payment.charges]))
        .order_by(Refund.id)
    )
    return [(a, b) for a, b in rows]


def test_a_whole_refund_is_confirmed_first_and_made_once_on_a_double_submit(
    console: Console, admin: Person, book: Book, session: Session
) -> None:
    both = pay(book, invoices={book.new.id: 1_000}, trust={book.matter.id: 2_000})
    _signed_in(console, admin)
    path = f"/console/payments/{both.public_id}"
    review = console.post(f"{path}/refund", {"whole": "1", "reason": "Paid twice"}, form_page=path)
    assert review.status_code == 200, review.get_data(as_text=True)
    page = review.get_data(as_text=True)
    assert ">$20.00<" in page.split('id="total-trust"', 1)[1][:30]
    assert ">$10.00<" in page.split('id="total-operating"', 1)[1][:30]
    assert _refunds(session, both) == []  # nothing yet
    form = _confirm_page_form(page)
    assert form["key"] and form["whole"] == "1"
    done = console.client.post(
        f"{path}/refund/confirm", data=form, base_url=BASE_URL, headers=_from(path)
    )
    assert done.status_code == 303
    made = _refunds(session, both)
    assert sorted(amount for _, amount in made) == [1_000, 2_000]
    # the browser sends the confirmation again: nothing more is refunded
    again = console.client.post(
        f"{path}/refund/confirm", data=form, base_url=BASE_URL, headers=_from(path)
    )
    assert again.status_code == 303
    assert _refunds(session, both) == made
    shown = console.get(path).get_data(as_text=True)
    assert "This refund was already made; nothing more was refunded." in shown
    assert "Refunded" in shown


def test_a_refund_of_one_allocation_and_bad_amounts(
    console: Console, admin: Person, book: Book, session: Session
) -> None:
    both = pay(book, invoices={book.new.id: 1_000}, trust={book.matter.id: 2_000})
    trust_line = next(
        line for charge in both.charges for line in charge.allocations if line.invoice_id is None
    )
    _signed_in(console, admin)
    path = f"/console/payments/{both.public_id}"
    box = f"amount-{trust_line.id}"
    wrong = console.post(f"{path}/refund", {box: "lots"}, form_page=path)
    assert wrong.status_code == 422
    assert 'value="lots"' in wrong.get_data(as_text=True)
    too_much = console.post(f"{path}/refund", {box: "25.00"}, form_page=path)
    assert too_much.status_code == 422
    assert "At most $20.00 is left to refund here." in too_much.get_data(as_text=True)
    review = console.post(f"{path}/refund", {box: "5.00"}, form_page=path)
    page = review.get_data(as_text=True)
    assert ">$5.00<" in page.split('id="total-trust"', 1)[1][:30]
    assert ">$0.00<" in page.split('id="total-operating"', 1)[1][:30]
    done = console.client.post(
        f"{path}/refund/confirm",
        data=_confirm_page_form(page),
        base_url=BASE_URL,
        headers=_from(path),
    )
    assert done.status_code == 303
    assert _refunds(session, both) == [(trust_line.id, 500)]


def test_resending_the_receipt_queues_one_email(
    console: Console, admin: Person, paid: list[Payment], session: Session
) -> None:
    def receipts_queued() -> int:
        return (
            session.scalar(
                select(func.count(OutgoingEmail.id)).where(
                    OutgoingEmail.kind == receipts.RECEIPT_EMAIL,
                    OutgoingEmail.ref == paid[0].public_id,
                )
            )
            or 0
        )

    before = receipts_queued()
    _signed_in(console, admin)
    path = f"/console/payments/{paid[0].public_id}"
    response = console.post(f"{path}/receipt", {}, form_page=path)
    assert response.status_code == 303
    assert receipts_queued() == before + 1
    assert "The receipt is on its way to ada@example.com." in console.get(path).text


def test_signed_out_visitors_go_to_sign_in(console: Console, paid: list[Payment]) -> None:
    for path in (
        f"/console/payments/{paid[0].public_id}",
        "/console/payments.csv",
        "/console/unmatched",
    ):
        response = console.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/console/sign-in")
    refused = console.post(
        f"/console/payments/{paid[0].public_id}/refund/confirm",
        {"key": "k", "whole": "1"},
        form_page="/console/sign-in",
    )
    assert refused.status_code == 302


def test_another_firms_payments_are_not_found_nor_listed(
    console: Console, paid: list[Payment], other_firm: factories.FirmWithKey, session: Session
) -> None:
    stranger = make_person(other_firm, "x@brandt.example", role="staff")
    _signed_in(console, stranger)
    target = paid[0].public_id
    assert console.get(f"/console/payments/{target}").status_code == 404
    assert _ids(console.get("/console/payments?declines=y").get_data(as_text=True)) == []
    own = "/console/payments"
    for action, data in (
        ("refund", {"whole": "1"}),
        ("refund/confirm", {"key": "k", "whole": "1"}),
        ("receipt", {}),
    ):
        answer = console.post(f"/console/payments/{target}/{action}", data, form_page=own)
        assert answer.status_code == 404, action
    assert _refunds(session, paid[0]) == []


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", ("Rembourser tout ce qui reste", "Argent reçu", "Exporter en CSV")),
        ("es", ("Reembolsar todo lo que queda", "Dinero recibido", "Exportar CSV")),
    ],
)
def test_the_money_pages_speak_the_browsers_language(
    console: Console, admin: Person, paid: list[Payment], language: str, words: tuple[str, ...]
) -> None:
    _signed_in(console, admin)

    def page(path: str) -> str:
        # The tests' app context outlives each request: drop Flask-Babel's cached catalog.
        flask_babel.refresh()
        headers = {"Accept-Language": language}
        return console.client.get(path, base_url=BASE_URL, headers=headers).get_data(as_text=True)

    pages = "".join(
        page(path)
        for path in (
            f"/console/payments/{paid[0].public_id}",
            "/console/",
            "/console/payments",
            "/console/unmatched",
        )
    )
    for word in words:
        assert word in pages
