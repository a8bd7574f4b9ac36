"""A matter page reloaded unchanged is served from what was built for it before
(portal.templating.render_page, portal.statements' statements kept by their rows), and any
change to what it shows is on the very next page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, g
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy.orm import Session

from portal import templating
from portal.billing.models import Invoice
from portal.firms.models import Firm
from portal.statements import statement as statements_module
from tests import factories
from tests.pages.conftest import Household, Portal


def _opened(portal: Portal, household: Household) -> tuple[str, Invoice]:
    portal.open(factories.link(household.client))
    invoice = factories.invoice(
        household.lawsuit, number="INV-7", total_minor=12_500, balance_due_minor=12_500
    )
    return f"/matters/{household.lawsuit.id}", invoice


def test_a_reloaded_page_is_byte_for_byte_a_fresh_render(
    portal: Portal, household: Household
) -> None:
    # given
    path, _ = _opened(portal, household)
    first = portal.get(path).data

    # when
    again = portal.get(path).data
    templating._pages.clear()
    statements_module._STATEMENTS.clear()
    fresh = portal.get(path).data

    # then
    assert again == first
    assert fresh == first


def test_a_changed_invoice_shows_on_the_next_page(
    portal: Portal, household: Household, session: Session
) -> None:
    # given
    path, invoice = _opened(portal, household)
    assert "$125.00" in portal.get(path).text

    # when
    invoice.balance_due_minor = 2_500
    session.flush()
    page = portal.get(path).text

    # then
    assert "$25.00" in page
    assert "$125.00" in page  # still the total of a partly paid invoice


def test_the_firms_name_and_the_language_show_on_the_next_page(
    portal: Portal, household: Household, session: Session
) -> None:
    # given
    path, _ = _opened(portal, household)
    english = portal.get(path).text

    # when
    firm = session.get(Firm, household.client.firm_id)
    assert firm is not None
    firm.name = "Renamed & Partners"
    session.flush()
    renamed = portal.get(path).text
    portal.get("/language/es_US")
    spanish = portal.get(path).text

    # then
    assert "Renamed &amp; Partners" not in english
    assert "Renamed &amp; Partners" in renamed
    assert '<html lang="es-US">' in spanish


def test_a_query_string_is_not_served_another_addresss_page(
    portal: Portal, household: Household
) -> None:
    # given: the language switcher leads back to the page's own address, query included
    path, _ = _opened(portal, household)
    portal.get(path)

    # when
    page = portal.get(path + "?x=1").text

    # then
    assert "x%3D1" in page or "x=1" in page


@pytest.fixture
def nonce_page(app: Flask) -> Iterator[str]:
    loader = app.jinja_env.loader
    assert loader is not None
    app.jinja_env.loader = ChoiceLoader(
        [DictLoader({"nonce.html": '<script nonce="{{ csp_nonce() }}"></script>'}), loader]
    )
    yield "nonce.html"
    app.jinja_env.loader = loader


def test_a_page_with_a_script_nonce_is_never_reused(app: Flask, nonce_page: str) -> None:
    pages = []
    for _ in range(2):
        with app.test_request_context("/"):
            g.firm = None
            pages.append(templating.render_page(nonce_page, ("same",)))
    assert pages[0] != pages[1]  # each response names its own nonce
