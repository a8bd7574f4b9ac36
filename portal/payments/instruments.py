"""How a card or bank account is named to the payer: its brand or bank, and the last four.

Processors send card brands as codes ("visa", "amex") and bank names in capitals ("STRIPE
TEST BANK", "JPMORGAN CHASE BANK, NA"). The payer reads the brand's own name, a bank's name in
ordinary capitals, and a test bank as "Test bank" in their language.
"""

from __future__ import annotations

import re

from flask_babel import gettext

#: Card brands as processors send them, by the name the brand uses for itself.
CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "american express": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "diners club": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "cartes_bancaires": "Cartes Bancaires",
    "interac": "Interac",
}
#: Words kept in capitals in a bank's name (abbreviations), and small words in lower case.
_ABBREVIATIONS = {"NA", "N.A.", "FSB", "USA", "US", "TD", "BMO", "RBC", "CIBC", "HSBC", "PNC"}
_SMALL = {"OF", "AND", "THE", "DE", "DU", "DES", "LA", "LE", "DEL", "Y", "ET"}
_SPELLED = {"JPMORGAN": "JPMorgan", "USAA": "USAA"}
_TEST_BANK = re.compile(r"\bTEST\s+BANK\b", re.IGNORECASE)


def brand_text(brand: str | None) -> str:
    """The brand or bank of an instrument as the payer reads it, in the rendered language."""
    name = (brand or "").strip()
    if not name:
        return ""
    if _TEST_BANK.search(name):
        return gettext("Test bank")
    known = CARD_BRANDS.get(name.lower())
    if known:
        return known
    if name != name.upper():
        return name  # already written as the bank writes itself
    words = []
    for index, word in enumerate(name.split()):
        bare = word.strip(",")
        if bare in _SPELLED:
            words.append(word.replace(bare, _SPELLED[bare]))
        elif bare in _ABBREVIATIONS:
            words.append(word)
        elif index and bare in _SMALL:
            words.append(word.lower())
        else:
            words.append(word.capitalize())
    return " ".join(words)


def instrument_text(brand: str | None, last4: str | None) -> str:
    """ "Visa •••• 4242", "Test bank •••• 6789", or the brand alone without a last four."""
    name = brand_text(brand)
    return f"{name} •••• {last4}".strip() if last4 else name
