"""French: the third language. Pages in fr_CA (CLDR's Canadian French, for amounts too), and the
words the portal itself writes into data (trust entries, bank names) shown in the reader's
language rather than stored English."""

from __future__ import annotations

import pytest
from flask import Flask

from portal.ledger import descriptions
from portal.payments.instruments import brand_text, instrument_text
from portal.templating import locale_scope


@pytest.mark.parametrize(
    ("locale", "deposit", "refund", "bank"),
    [
        ("en_US", "Portal deposit (pJHr7)", "Refund (pJHr7)", "Test bank"),
        ("es_US", "Depósito por el portal (pJHr7)", "Reembolso (pJHr7)", "Banco de prueba"),
        ("fr_CA", "Dépôt par le portail (pJHr7)", "Remboursement (pJHr7)", "Banque de test"),
    ],
)
def test_the_portals_own_words_are_shown_in_the_readers_language(
    app: Flask, locale: str, deposit: str, refund: str, bank: str
) -> None:
    stored = descriptions.stored(descriptions.PORTAL_DEPOSIT, "pJHr7")
    assert stored == "Portal deposit (pJHr7)"  # what the back office and the API read
    with app.test_request_context(), locale_scope(locale):
        assert descriptions.shown(stored, "portal") == deposit
        assert descriptions.shown("Refund (pJHr7)", "portal") == refund
        assert brand_text("STRIPE TEST BANK") == bank
        # The back office's own words, and unknown shapes, are shown as written.
        assert descriptions.shown("Portal deposit (pJHr7)", "back_office") == stored
        assert descriptions.shown("Something else (x)", "portal") == "Something else (x)"


@pytest.mark.parametrize(
    ("brand", "last4", "expected"),
    [
        ("visa", "4242", "Visa •••• 4242"),
        ("amex", "0005", "American Express •••• 0005"),
        ("JPMORGAN CHASE BANK, NA", "1234", "JPMorgan Chase Bank, NA •••• 1234"),
        ("BANK OF AMERICA, N.A.", None, "Bank of America, N.A."),
        ("Wells Fargo", "9", "Wells Fargo •••• 9"),
        (None, None, ""),
    ],
)
def test_brands_and_banks_read_as_names(
    app: Flask, brand: str | None, last4: str | None, expected: str
) -> None:
    with app.test_request_context(), locale_scope("fr_CA"):
        assert instrument_text(brand, last4) == expected
