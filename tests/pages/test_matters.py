"""The client's matters list and matter page: content, formatting, scoping and query budget."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest

from portal import statements
from portal.billing.models import InvoiceStatus, Matter
from portal.links import services as links
from tests import factories
from tests.pages.conftest import FROZEN_AT, Household, Portal

D = dt.date

#: The most SQL statements one page may run, the link lookup included.
MATTER_PAGE_QUERIES = 6
MATTERS_LIST_QUERIES = 5


@dataclass
class Books:
    household: Household

    @property
    def lawsuit(self) -> Matter:
        return self.household.lawsuit

    @property
    def estate(self) -> Matter:
        return self.household.estate


@pytest.fixture
def books(household: Household) -> Books:
    """The lawsuit owes on four invoices and is short in trust; the estate owes on one."""
    lawsuit, estate = household.lawsuit, household.estate
    for number, issued, due, total, balance in (
        ("INV-1043", D(2026, 3, 11), D(2026, 4, 10), 92_500, 92_500),
        ("INV-1044", D(2026, 3, 1), None, 10_000, 10_000),
        ("INV-1041", D(2026, 1, 1), D(2026, 1, 31), 240_000, 240_000),
        ("INV-1042", D(2026, 2, 5), D(2026, 3, 6), 187_550, 87_550),
    ):
        factories.invoice(
            lawsuit,
            number=number,
            issued_on=issued,
            due_on=due,
            total_minor=total,
            balance_due_minor=balance,
            description=f"Services billed on {number}",
        )
    # Neither of these is owed: a voided bill, and an open one already at zero.
    factories.invoice(
        lawsuit, number="INV-1039", status=InvoiceStatus.VOID, balance_due_minor=5_000
    )
    factories.invoice(lawsuit, number="INV-1038", status=InvoiceStatus.OPEN, balance_due_minor=0)
    for number, paid_at in (
        ("INV-1030", dt.datetime(2026, 1, 10, 17, tzinfo=dt.UTC)),
        ("INV-1031", dt.datetime(2026, 2, 20, 17, tzinfo=dt.UTC)),
    ):
        factories.invoice(
            lawsuit, number=number, total_minor=150_000, balance_due_minor=0, paid_at=paid_at
        )
    for posted, amount, text in (
        (D(2025, 12, 16), 1_000_000, "Initial retainer"),
        (D(2026, 1, 15), -450_000, "Transfer to operating"),
        (D(2026, 2, 14), -230_000, "Filing fees"),
    ):
        factories.trust_entry(lawsuit, amount, posted_on=posted, description=text)
    factories.invoice(estate, number="INV-1050", total_minor=64_000)
    factories.trust_entry(estate, 250_000, description="Retainer for probate")
    return Books(household)


def opened(portal: Portal, household: Household, **link_kw) -> Portal:
    portal.open(factories.link(household.client, **link_kw))
    return portal


def figures(page: str) -> dict[str, str]:
    """The page's key figures (its <dt>/<dd> pairs) as plain text."""
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", page, flags=re.S)
    return {label: re.sub(r"<[^>]+>", " ", value).split()[0] for label, value in pairs}


def positions(text: str, *needles: str) -> list[int]:
    found = [text.find(needle) for needle in needles]
    assert -1 not in found, dict(zip(needles, found, strict=True))
    return found


# The matters list ------------------------------------------------------------------------------


def test_the_list_shows_each_matter_with_what_is_owed_and_held(
    portal: Portal, books: Books
) -> None:
    # given
    opened(portal, books.household)

    # when
    page = portal.get("/matters").text

    # then
    lawsuit, estate = positions(page, "Delgado v. Northside Realty", "Estate of Rafael Delgado")
    assert lawsuit < estate  # by matter number
    lawsuit_card, estate_card = page[lawsuit:estate], page[estate:]
    assert "Matter 2024-001" in lawsuit_card
    assert "$4,300.50" in lawsuit_card
    assert "$3,200.00" in lawsuit_card
    assert "Below minimum" in lawsuit_card
    assert "$640.00" in estate_card
    assert "$2,500.00" in estate_card
    assert "Below minimum" not in estate_card
    assert "Okoro lease" not in page


def test_a_matter_with_nothing_owed_shows_zero(portal: Portal, household: Household) -> None:
    # given
    opened(portal, household)

    # when
    page = portal.get("/matters").text

    # then
    assert page.count("$0.00") == 4  # Owed and held, on each of the two matters.


def test_invoices_in_two_currencies_are_not_added_together(
    portal: Portal, household: Household
) -> None:
    # given
    factories.invoice(household.estate, total_minor=10_000, currency="USD")
    factories.invoice(household.estate, total_minor=20_000, currency="CAD")
    opened(portal, household, matters=[household.estate, household.lawsuit])

    # when
    summary = portal.get("/matters").text
    statement = portal.get(f"/matters/{household.estate.id}").text

    # then
    assert "$100.00" in summary
    assert "CA$200.00" in summary
    assert "See each invoice" in statement


def test_a_scoped_link_lists_and_opens_only_its_matters(portal: Portal, books: Books) -> None:
    # given
    link = factories.link(books.household.client, matters=[books.estate])
    portal.open(link)

    # when
    listed = portal.get("/matters").text
    other = portal.get(f"/matters/{books.lawsuit.id}")

    # then
    assert "Estate of Rafael Delgado" in listed
    assert "Northside" not in listed
    assert other.status_code == 404
    assert "Northside" not in other.text


@pytest.mark.parametrize("scoped", [False, True])
def test_the_pages_see_exactly_the_matters_the_link_service_allows(
    books: Books, scoped: bool
) -> None:
    # given
    link = factories.link(books.household.client, matters=[books.lawsuit] if scoped else [])

    # when
    listed = [summary.id for summary in statements.matter_summaries(link)]

    # then
    assert sorted(listed) == sorted(links.visible_matter_ids(link))


# One matter ------------------------------------------------------------------------------------


def test_the_matter_page_lists_open_invoices_soonest_due_first(
    portal: Portal, books: Books
) -> None:
    # given
    opened(portal, books.household)

    # when
    page = portal.get(f"/matters/{books.lawsuit.id}").text

    # then
    open_section = page[page.index("Open invoices") : page.index("Recently paid")]
    assert positions(open_section, "INV-1041", "INV-1042", "INV-1043", "INV-1044") == sorted(
        positions(open_section, "INV-1041", "INV-1042", "INV-1043", "INV-1044")
    )
    assert "INV-1039" not in page  # void
    assert "INV-1038" not in open_section  # nothing left to pay
    assert "Services billed on INV-1042" in open_section
    assert "Issued: Feb 5, 2026" in open_section
    assert "$875.50" in open_section  # balance due of INV-1042 ...
    assert 'Total: <span class="amount">$1,875.50</span>' in open_section  # ... of its total
    assert "No due date" in open_section  # INV-1044


def test_overdue_invoices_are_marked_in_words(portal: Portal, books: Books) -> None:
    # given
    opened(portal, books.household)

    # when
    page = portal.get(f"/matters/{books.lawsuit.id}").text

    # then
    rows = re.findall(r"<tr[^>]*>.*?</tr>", page, flags=re.S)
    overdue = {number for row in rows if "Overdue" in row for number in re.findall(r"INV-\d+", row)}
    assert overdue == {"INV-1041", "INV-1042"}


def test_the_matter_page_shows_what_is_owed_in_all(portal: Portal, books: Books) -> None:
    # given
    opened(portal, books.household)

    # when
    page = portal.get(f"/matters/{books.lawsuit.id}").text

    # then
    assert figures(page)["Balance due"] == "$4,300.50"


def test_recently_paid_invoices_come_newest_first(portal: Portal, books: Books) -> None:
    # given
    opened(portal, books.household)

    # when
    page = portal.get(f"/matters/{books.lawsuit.id}").text

    # then
    paid = page[page.index("Recently paid") : page.index("Trust account")]
    newer, older = positions(paid, "INV-1031", "INV-1030")
    assert newer < older
    assert "Feb 20, 2026" in paid
    assert "$1,500.00" in paid


def test_at_most_ten_paid_invoices_are_listed(portal: Portal, household: Household) -> None:
    # given
    for day in range(1, 13):
        factories.invoice(
            household.estate,
            number=f"PAID-{day:02d}",
            balance_due_minor=0,
            paid_at=dt.datetime(2026, 2, day, tzinfo=dt.UTC),
        )
    opened(portal, household)

    # when
    page = portal.get(f"/matters/{household.estate.id}").text

    # then
    assert "PAID-12" in page
    assert "PAID-03" in page
    assert "PAID-02" not in page
    assert "PAID-01" not in page


def test_the_trust_ledger_shows_balance_history_and_shortfall(portal: Portal, books: Books) -> None:
    # given
    opened(portal, books.household)

    # when
    page = portal.get(f"/matters/{books.lawsuit.id}").text

    # then
    assert "Your trust balance is below the minimum" in page
    assert "should keep at least $5,000.00 in trust. It is $1,800.00 short." in page
    assert figures(page)["Trust balance"] == "$3,200.00"
    assert figures(page)["Minimum trust balance"] == "$5,000.00"
    trust = page[page.index('id="trust-ledger"') :]
    rows = re.findall(r"<tr>.*?</tr>", trust, flags=re.S)[1:]
    assert [re.findall(r"-?\$[\d,]+\.\d\d", row) for row in rows] == [
        ["-$2,300.00", "$3,200.00"],
        ["-$4,500.00", "$5,500.00"],
        ["$10,000.00", "$10,000.00"],
    ]
    assert "Filing fees" in rows[0]
    assert "Feb 14, 2026" in rows[0]


def test_no_shortfall_when_the_matter_has_no_minimum(portal: Portal, books: Books) -> None:
    # given
    opened(portal, books.household)

    # when
    page = portal.get(f"/matters/{books.estate.id}").text

    # then
    assert "below the minimum" not in page
    assert "Minimum trust balance" not in page


def test_long_histories_are_capped_and_say_how_much_is_hidden(
    portal: Portal, household: Household
) -> None:
    # given
    matter = household.estate
    for n in range(statements.OPEN_INVOICES_SHOWN + 3):
        factories.invoice(matter, number=f"OPEN-{n:03d}", due_on=D(2026, 4, 1) + dt.timedelta(n))
    for n in range(statements.TRUST_ENTRIES_SHOWN + 2):
        factories.trust_entry(
            matter, 100, posted_on=D(2025, 1, 1) + dt.timedelta(n), description=f"Deposit {n:03d}"
        )
    opened(portal, household)

    # when
    page = portal.get(f"/matters/{matter.id}").text

    # then
    shown = statements.OPEN_INVOICES_SHOWN
    assert f"OPEN-{shown - 1:03d}" in page
    assert f"OPEN-{shown:03d}" not in page
    assert (
        f"These are the {shown} soonest due of your {shown + 3} open invoices on this matter."
        in page
    )
    assert figures(page)["Balance due"] == f"${(shown + 3) * 1000:,}.00"  # all, listed or not
    assert "Deposit 002" in page
    assert "Deposit 001" not in page
    assert "2 older entries are not shown." in page
    entries = statements.TRUST_ENTRIES_SHOWN + 2
    assert figures(page)["Trust balance"] == f"${entries}.00"
    oldest_shown = next(
        row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if "Deposit 002" in row
    )
    # the balance after it counts the two hidden entries too
    assert re.search(r"\$3\.00</span></td>\s*</tr>", oldest_shown)
    assert f'href="/matters/{matter.id}/trust"' in page


def test_the_full_trust_history_pages_through_every_entry(
    portal: Portal, household: Household
) -> None:
    # given more entries than one history page holds
    matter = household.estate
    count = statements.TRUST_HISTORY_PAGE + 5
    for n in range(count):
        factories.trust_entry(
            matter, 100, posted_on=D(2024, 1, 1) + dt.timedelta(n), description=f"Entry {n:03d}"
        )
    opened(portal, household)
    # when both pages are read
    first = portal.get(f"/matters/{matter.id}/trust").text
    second = portal.get(f"/matters/{matter.id}/trust?page=2").text
    # then every entry shows exactly once, newest first, with its running balance
    seen = re.findall(r"Entry (\d{3})", first + second)
    assert len(seen) == len(set(seen)) >= count
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert 'rel="next"' in first and 'rel="prev"' in second
    assert portal.get(f"/matters/{matter.id}/trust?page=9").status_code == 404
    # nonsense page numbers are answered, never a 500
    for nonsense in ("10" * 20, "-5", "abc", "0"):
        answer = portal.get(f"/matters/{matter.id}/trust?page={nonsense}")
        assert answer.status_code in (200, 404), nonsense


def test_another_clients_trust_history_is_not_found(portal: Portal, household: Household) -> None:
    opened(portal, household)
    response = portal.get(f"/matters/{household.neighbours_matter.id}/trust")
    assert response.status_code == 404


def test_entries_on_the_same_day_run_in_the_order_they_were_recorded(
    portal: Portal, household: Household
) -> None:
    # given
    day = D(2026, 3, 2)
    factories.trust_entry(household.estate, 50_000, posted_on=day, description="First")
    factories.trust_entry(household.estate, -20_000, posted_on=day, description="Second")
    opened(portal, household)

    # when
    page = portal.get(f"/matters/{household.estate.id}").text

    # then
    second, first = positions(page, "Second", "First")
    assert second < first
    assert re.search(r"Second.*?-\$200\.00.*?\$300\.00", page, re.S)
    assert re.search(r"First.*?\$500\.00.*?\$500\.00", page, re.S)


# Locales ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "lang", "due", "posted"),
    [
        ("en_US", "en-US", "Jan 31, 2026", "Feb 14, 2026"),
        ("es_US", "es-US", "31 ene 2026", "14 feb 2026"),
        ("es-US", "es-US", "31 ene 2026", "14 feb 2026"),
    ],
)
def test_dates_and_amounts_follow_the_clients_locale(
    portal: Portal, books: Books, locale: str, lang: str, due: str, posted: str
) -> None:
    # given
    books.household.client.locale = locale
    opened(portal, books.household)

    # when
    page = portal.get(f"/matters/{books.lawsuit.id}").text

    # then
    assert f'<html lang="{lang}">' in page
    assert due in page
    assert posted in page
    assert "$2,400.00" in page  # US Spanish writes dollars the US way too.
    assert "-$4,500.00" in page


# Who may see what ------------------------------------------------------------------------------


def test_another_clients_matter_is_not_found(portal: Portal, books: Books) -> None:
    # given
    opened(portal, books.household)

    # when
    response = portal.get(f"/matters/{books.household.neighbours_matter.id}")

    # then
    assert response.status_code == 404
    assert "Okoro" not in response.text


def test_another_firms_matter_looks_exactly_like_a_missing_one(
    portal: Portal, books: Books, other_firm: factories.FirmWithKey
) -> None:
    # given
    stranger = factories.client(other_firm)
    theirs = factories.matter(stranger, title="Brandt internal matter")
    factories.invoice(theirs)
    opened(portal, books.household)

    # when
    response = portal.get(f"/matters/{theirs.id}")
    missing = portal.get("/matters/987654321")

    # then
    assert response.status_code == missing.status_code == 404
    assert response.data == missing.data
    assert "Brandt" not in response.text


# Markup, assets and cost -----------------------------------------------------------------------


@pytest.fixture
def every_page(portal: Portal, books: Books) -> dict[str, str]:
    """The HTML of each kind of page a client can reach."""
    pages = {"401": portal.get("/matters").text, "404 link": portal.open("nope").text}
    link = factories.link(books.household.client)
    portal.open(link)
    pages["matters"] = portal.get("/matters").text
    pages["matter"] = portal.get(f"/matters/{books.lawsuit.id}").text
    pages["404 matter"] = portal.get("/matters/987654321").text
    links.revoke_link(link)
    pages["410"] = portal.get("/matters").text
    return pages


def test_no_page_loads_anything_from_another_site(every_page: dict[str, str]) -> None:
    for name, html in every_page.items():
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I), name
        assert "cdn" not in html.lower(), name


def test_no_page_needs_inline_script_or_style(every_page: dict[str, str]) -> None:
    for name, html in every_page.items():
        assert "<script" not in html, name
        assert "<style" not in html, name
        assert not re.search(r"\sstyle\s*=", html), name
        assert 'href="#content"' in html, name  # the skip link


def test_the_matter_page_stays_within_its_query_budget(
    portal: Portal, books: Books, queries: list[str]
) -> None:
    # given
    opened(portal, books.household)
    queries.clear()

    # when
    response = portal.get(f"/matters/{books.lawsuit.id}")

    # then
    assert response.status_code == 200
    assert len(queries) <= MATTER_PAGE_QUERIES, "\n\n".join(queries)


def test_the_matters_list_stays_within_its_query_budget(
    portal: Portal, books: Books, queries: list[str]
) -> None:
    # given
    for n in range(20):
        matter = factories.matter(books.household.client, number=f"2025-{n:03d}")
        factories.invoice(matter)
        factories.trust_entry(matter, 10_000)
    opened(portal, books.household)
    queries.clear()

    # when
    response = portal.get("/matters")

    # then
    assert response.status_code == 200
    assert response.text.count('class="card"') == 22
    assert len(queries) <= MATTERS_LIST_QUERIES, "\n\n".join(queries)


# Brand colour ----------------------------------------------------------------------------------


def test_the_firms_colour_comes_from_its_own_stylesheet(
    portal: Portal, books: Books, firm: factories.FirmWithKey
) -> None:
    # given
    firm.firm.brand_colour = "#1D4F91"
    opened(portal, books.household)

    # when
    page = portal.get("/matters").text
    css = portal.get("/brand/1d4f91.css")

    # then
    assert '<link rel="stylesheet" href="/brand/1d4f91.css">' in page
    assert css.status_code == 200
    assert css.content_type == "text/css; charset=utf-8"
    assert css.text == ":root{--brand:#1d4f91;--brand-ink:#ffffff;--brand-text:#1d4f91}\n"
    assert "immutable" in css.headers["Cache-Control"]


def test_a_light_brand_colour_gets_dark_text(portal: Portal) -> None:
    # black on the yellow; as text on the page, the yellow darkened to 4.5:1 against --wash
    assert portal.get("/brand/f5d90a.css").text == (
        ":root{--brand:#f5d90a;--brand-ink:#000000;--brand-text:#7a6c05}\n"
    )


@pytest.mark.parametrize(
    ("colour", "ink"),
    [("767676", "#000000"), ("777777", "#000000"), ("6e6e6e", "#ffffff"), ("e4002b", "#ffffff")],
)
def test_text_on_a_mid_tone_brand_is_whichever_of_black_or_white_reads_better(
    portal: Portal, colour: str, ink: str
) -> None:
    # #767676 is 4.54:1 against white but 4.62:1 against black: brightness alone would
    # have picked white; WCAG's contrast ratio picks black.
    assert f"--brand-ink:{ink};" in portal.get(f"/brand/{colour}.css").text


@pytest.mark.parametrize("colour", ["red", "1D4F91", "1d4f9", "1d4f91a", "1d4f91;x"])
def test_anything_but_six_lower_case_hex_digits_is_not_a_stylesheet(
    portal: Portal, colour: str
) -> None:
    assert portal.get(f"/brand/{colour}.css").status_code == 404


def test_a_malformed_stored_colour_is_ignored(
    portal: Portal, books: Books, firm: factories.FirmWithKey
) -> None:
    # given
    firm.firm.brand_colour = "red;}"
    opened(portal, books.household)

    # when
    page = portal.get("/matters").text

    # then
    assert "/brand/" not in page


def test_the_frozen_clock_is_what_the_pages_call_today() -> None:
    # The fixtures' dates (overdue before 16 March 2026) depend on this instant.
    assert FROZEN_AT.date() == D(2026, 3, 16)
