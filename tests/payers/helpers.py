"""Saving methods for tests through the real use case and the sandbox (test numbers only)."""

from __future__ import annotations

from portal.billing.models import Client
from portal.gateways.base import Instrument
from portal.payers import services as payers
from portal.payers.models import ConsentHow, ConsentScope, MethodKind, Payer, SavedMethod

WORDS = "Save this card for future payments to Test Firm LLP"
VISA = Instrument(card_number="4242424242424242", card_expiry="12/40", card_cvc="123")
#: Stripe's test card whose bank asks the payer every time, off-session too.
ALWAYS_3DS = Instrument(card_number="4000002760003184", card_expiry="12/40", card_cvc="123")
#: Stripe's test card that asks only when the payer is there.
SETUP_3DS = Instrument(card_number="4000002500003155", card_expiry="12/40", card_cvc="123")


def save(
    payer: Payer,
    instrument: Instrument = VISA,
    *,
    scope: ConsentScope = ConsentScope.FUTURE_FIRM_INITIATED,
    kind: MethodKind = MethodKind.CARD,
) -> SavedMethod:
    return payers.save_method(
        payer=payer,
        kind=kind,
        instrument=instrument,
        currency="USD",
        consent=payers.ConsentGiven(words=WORDS, how=ConsentHow.CLIENT_PAY_PAGE, scope=scope),
    )


def saved_for(client: Client, instrument: Instrument = VISA, **kw: object) -> SavedMethod:
    """A card saved by the client themself."""
    return save(payers.client_payer(client), instrument, **kw)  # type: ignore[arg-type]
