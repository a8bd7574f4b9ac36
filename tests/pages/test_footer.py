"""Every client page closes with the firm's contact details (templates/base.html), and a page
kept for reuse shows them anew once the firm changes them."""

from __future__ import annotations

from portal.billing.models import Matter
from tests import factories
from tests.pages.conftest import Household, Portal


def test_the_footer_shows_how_to_reach_the_firm(
    portal: Portal, firm: factories.FirmWithKey, household: Household
) -> None:
    # given a firm with its contact details
    firm.firm.contact_email = "billing@okafor.example"
    firm.firm.contact_phone = "+1 212 555 0100"
    firm.firm.postal_address = "12 Court Street\nBrooklyn, NY 11201"
    firm.firm.website = "https://okafor.example"
    portal.open(factories.link(household.client))

    # when the client opens their matter list and a matter
    pages = [portal.get("/matters").text, portal.get(_matter_path(household.estate)).text]

    # then each closes with them, as links where they are addresses
    for page in pages:
        footer = page[page.index('<footer class="site-footer">') :]
        assert "12 Court Street<br>Brooklyn, NY 11201<br>" in footer
        assert '<a href="tel:+12125550100">+1 212 555 0100</a>' in footer
        assert '<a href="mailto:billing@okafor.example">billing@okafor.example</a>' in footer
        assert '<a href="https://okafor.example">https://okafor.example</a>' in footer
        assert "style=" not in footer  # pages take no inline styles (CSP)


def test_a_changed_phone_number_shows_at_once(
    portal: Portal, firm: factories.FirmWithKey, household: Household
) -> None:
    firm.firm.contact_phone = "+1 212 555 0100"
    portal.open(factories.link(household.client))
    assert "+1 212 555 0100" in portal.get(_matter_path(household.estate)).text

    firm.firm.contact_phone = "+1 212 555 0199"
    page = portal.get(_matter_path(household.estate)).text

    assert "+1 212 555 0199" in page and "+1 212 555 0100" not in page


def test_without_contact_details_the_footer_has_none(portal: Portal, household: Household) -> None:
    portal.open(factories.link(household.client))
    page = portal.get("/matters").text
    assert "<address" not in page


def _matter_path(matter: Matter) -> str:
    return f"/matters/{matter.id}"
