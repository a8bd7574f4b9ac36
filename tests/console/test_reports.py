"""The console's Reports: the reconciliation per account and day (the firm's days) and both
trust-request reports, on screen and as CSV of exactly the rows shown; the period's mistakes
come back next to their fields; other firms' money never appears."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from flask_babel import refresh
from sqlalchemy.orm import Session

from portal import clock
from portal.billing.models import Matter
from portal.firms import services as firms
from portal.payments.models import PaymentMethod
from tests import factories
from tests.api.payment_books import make_book, settle_ach
from tests.clocks import Clock
from tests.conftest import APIClient
from tests.console.conftest import Console, Person, make_person
from tests.payments.conftest import ACH_RETURNED, Book, pay
from tests.trust_requests.conftest import make_request
from tests.trust_requests.test_payments import pay as pay_requests

PAGE = "/console/reports"


@pytest.fixture
def book(firm: factories.FirmWithKey, frozen_clock: Clock) -> Book:
    return make_book(firm)


def _history(api: APIClient, book: Book) -> dict[str, str]:
    """A card payment to operating and trust, a partial refund of it, and an ACH return."""
    card = pay(book, invoices={book.old.id: 120_000}, trust={book.matter.id: 50_000})
    (line,) = card.charges[0].allocations
    refund = api.post(
        f"/api/v1/payments/{card.public_id}/refunds",
        json={"allocations": [{"allocation": line.id, "amount": 20_000}]},
        headers={"Idempotency-Key": "console-rec-1"},
    )
    assert refund.status_code == 201
    ach = pay(
        book, invoices={book.new.id: 30_000}, method=PaymentMethod.ACH, instrument=ACH_RETURNED
    )
    settle_ach(ach)
    return {"card": card.public_id, "ach": ach.public_id}


def _records(html: str, kind: str) -> int:
    return len(re.findall(rf'data-record="{kind}"', html))


def _csv(response: object) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))  # type: ignore[attr-defined]


def _month() -> tuple[str, str]:
    today = clock.today()
    return today.replace(day=1).isoformat(), today.isoformat()


def test_the_reconciliation_of_this_month_on_screen_and_as_csv(
    console: Console, staffer: Person, book: Book, api: APIClient
) -> None:
    made = _history(api, book)
    console.sign_in_as(staffer)

    page = console.get(PAGE)

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    start, end = _month()
    # the form shows the default period: this month, in the firm's days
    assert f'value="{start}"' in html and f'value="{end}"' in html
    # totals per account, trust and operating apart
    assert 'id="totals-operating-table"' in html and 'id="totals-trust-table"' in html
    assert "$1,500.00" in html  # operating's gross: 1,200.00 + 300.00
    assert "$500.00" in html  # trust's gross
    # each payment links to its console page
    for public_id in made.values():
        assert f'href="/console/payments/{public_id}"' in html

    download = console.get(f"{PAGE}/reconciliation.csv?start={start}&end={end}")

    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    rows = _csv(download)
    # exactly what the page shows: one CSV row per table row, of each kind
    for kind in ("day", "total", "charge"):
        assert sum(1 for row in rows[1:] if row[0] == kind) == _records(html, kind), kind
    # the same file the API writes for the same days (the same service and rows)
    same = api.get(
        "/api/v1/reconciliation", query_string={"from": start, "to": end, "format": "csv"}
    )
    assert download.get_data() == same.get_data()


def test_one_account_only(
    console: Console, staffer: Person, book: Book, api: APIClient, firm: factories.FirmWithKey
) -> None:
    made = _history(api, book)
    trust = next(a for a in firms.merchant_accounts_of(firm.id) if a.kind.value == "trust")
    console.sign_in_as(staffer)

    html = console.get(f"{PAGE}?account={trust.public_id}").get_data(as_text=True)

    assert 'id="totals-trust-table"' in html and 'id="totals-operating-table"' not in html
    assert f'href="/console/payments/{made["card"]}"' in html
    assert f'href="/console/payments/{made["ach"]}"' not in html
    rows = _csv(console.get(f"{PAGE}/reconciliation.csv?account={trust.public_id}"))
    assert {row[1] for row in rows[1:] if row[0] != "charge"} == {"trust"}


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=2026-13-01&end=2026-03-16", "start", "Not a valid date value."),
        ("start=2026-03-10&end=2026-03-01", "end", "This day is before the first day."),
        ("start=2024-01-01&end=2026-03-16", "end", "A report covers at most 366 days."),
        ("account=ma_not_ours", "account", "Not a valid choice."),
    ],
)
def test_a_wrong_period_comes_back_with_the_error_by_its_field(
    console: Console, staffer: Person, query: str, field: str, message: str
) -> None:
    console.sign_in_as(staffer)

    page = console.get(f"{PAGE}?{query}")

    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in html
    assert 'id="error-summary"' in html
    if field == "start":
        assert 'value="2026-13-01"' in html  # what was typed is kept
    # the downloads answer the same page, never a CSV of something else
    for csv_path in ("reconciliation.csv", "trust-request-payments.csv"):
        answer = console.get(f"{PAGE}/{csv_path}?{query}")
        assert answer.status_code == 422 and answer.mimetype == "text/html"


def test_an_empty_box_takes_the_month_of_the_other(console: Console, staffer: Person) -> None:
    console.sign_in_as(staffer)
    only_end = console.get(f"{PAGE}?end=2026-02-10").get_data(as_text=True)
    assert 'value="2026-02-01"' in only_end and 'value="2026-02-10"' in only_end
    # a first day after today, with no last day, is a report of that one day
    only_start = console.get(f"{PAGE}?start=2026-04-02").get_data(as_text=True)
    assert only_start.count('value="2026-04-02"') == 2


def test_another_firms_money_and_accounts_never_appear(
    console: Console,
    staffer: Person,
    book: Book,
    other_firm: factories.FirmWithKey,
    session: Session,
) -> None:
    theirs = make_book(other_firm)
    paid = pay(theirs, invoices={theirs.old.id: 120_000})
    their_account = firms.merchant_accounts_of(other_firm.id)[0]
    console.sign_in_as(staffer)

    html = console.get(PAGE).get_data(as_text=True)
    assert paid.public_id not in html
    assert their_account.public_id not in html
    refused = console.get(f"{PAGE}?account={their_account.public_id}")
    assert refused.status_code == 422
    assert paid.public_id not in console.get(f"{PAGE}/reconciliation.csv").get_data(as_text=True)


def test_both_trust_request_reports_on_screen_and_as_csv(
    console: Console, staffer: Person, firm: factories.FirmWithKey, session: Session
) -> None:
    person = factories.client(firm, external_id="C-9")
    matter: Matter = factories.matter(person, external_id="M-9", number="2026-009")
    unpaid = make_request(matter, 250_000, due_on=clock.today() - dt.timedelta(days=1))
    paid_for = make_request(matter, 100_000)
    payment = pay_requests(matter, requests={paid_for.id: 100_000})
    session.flush()
    console.sign_in_as(staffer)

    html = console.get(PAGE).get_data(as_text=True)

    assert _records(html, "unpaid") == 1 and unpaid.public_id in html and "Overdue" in html
    assert _records(html, "request-payment") == 1
    assert f'href="/console/payments/{payment.public_id}"' in html
    unpaid_rows = list(
        csv.DictReader(io.StringIO(console.get(f"{PAGE}/trust-requests-unpaid.csv").text))
    )
    assert [
        (r["trust_request"], r["client"], r["matter_number"], r["remaining"], r["overdue"])
        for r in unpaid_rows
    ] == [(unpaid.public_id, "C-9", "2026-009", "250000", "true")]
    paid_rows = list(
        csv.DictReader(io.StringIO(console.get(f"{PAGE}/trust-request-payments.csv").text))
    )
    assert [(r["trust_request"], r["payment"], r["amount"]) for r in paid_rows] == [
        (paid_for.public_id, payment.public_id, "100000")
    ]
    # what the CSV says of the time is what the page shows
    assert paid_rows[0]["created_at"] in html
    # a period before the payment leaves it out, on screen and in the file
    earlier = "start=2026-01-01&end=2026-01-31"
    assert _records(console.get(f"{PAGE}?{earlier}").get_data(as_text=True), "request-payment") == 0
    assert len(_csv(console.get(f"{PAGE}/trust-request-payments.csv?{earlier}"))) == 1
    # Links & trust requests points at them
    links = console.get("/console/links").get_data(as_text=True)
    assert 'href="/console/reports#unpaid-trust-requests"' in links


@pytest.mark.parametrize(
    "path", ["", "/reconciliation.csv", "/trust-requests-unpaid.csv", "/trust-request-payments.csv"]
)
def test_signed_out_visitors_go_to_sign_in_and_staff_may_read(
    console: Console, firm: factories.FirmWithKey, frozen_clock: Clock, path: str
) -> None:
    answer = console.get(PAGE + path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/console/sign-in")
    console.sign_in_as(make_person(firm, "sam@okafor.example", role="staff"))
    assert console.get(PAGE + path).status_code == 200


def test_the_page_speaks_spanish_and_french(console: Console, staffer: Person) -> None:
    console.sign_in_as(staffer)
    console.client.get(f"/language/es_US?next={PAGE}", base_url="https://localhost")
    refresh()  # Flask-Babel caches the catalog on the app context the test client keeps
    spanish = console.get(f"{PAGE}?start=2026-03-10&end=2026-03-01")
    html = spanish.get_data(as_text=True)
    assert spanish.status_code == 422
    assert "Conciliación" in html and "Solicitudes de fideicomiso sin pagar" in html
    assert "Este día es anterior al primer día." in html
    console.client.get(f"/language/fr_CA?next={PAGE}", base_url="https://localhost")
    refresh()
    french = console.get(PAGE).get_data(as_text=True)
    assert "Rapprochement" in french and "Comptes de fidéicommis" in french
