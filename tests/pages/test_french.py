"""A French client's pages: French words, CLDR fr_CA amounts, and the portal's own trust entries
translated at display time (the stored English is what the back office reads)."""

from __future__ import annotations

from portal.ledger import descriptions
from tests import factories
from tests.pages.conftest import Household, Portal


def test_a_french_clients_matter_page_is_french_with_canadian_amounts(
    portal: Portal, household: Household, session
) -> None:
    # given
    household.client.locale = "fr_CA"
    session.flush()
    matter = household.lawsuit
    factories.trust_entry(matter, 123_456, description="Retainer received")
    factories.trust_entry(
        matter,
        20_000,
        external_id=None,
        source="portal",
        description=descriptions.stored(descriptions.PORTAL_DEPOSIT, "pJHr7"),
    )
    link = factories.link(household.client)

    # when
    portal.open(link)
    page = portal.get(f"/matters/{matter.id}").text
    history = portal.get(f"/matters/{matter.id}/trust").text

    # then
    assert '<html lang="fr-CA">' in page
    assert "Compte en fidéicommis" in page
    assert "1\xa0234,56\xa0$\xa0US" in page  # CLDR fr_CA for USD
    for html in (page, history):
        assert "Dépôt par le portail (pJHr7)" in html
        assert "Portal deposit" not in html
        assert "Retainer received" in html  # the firm's own words stay the firm's
