"""Payments through the firm's public pay page (the pay button), as the page makes them:
matched to an open invoice by its number, or taken unapplied and flagged `unmatched`."""

from __future__ import annotations

import itertools

from portal.firms.models import Firm
from portal.paybutton import services as paybutton
from portal.payments import services as payments
from portal.payments.models import UNMATCHED, Payment, PaymentMethod
from tests.payments.conftest import VISA

_keys = itertools.count(1)


def public_payment(firm: Firm, reference: str, amount_minor: int = 5_000) -> Payment:
    """A card payment on `firm`'s public pay page with `reference` typed as the invoice."""
    prepared = paybutton.prepare(
        firm,
        kind=paybutton.Kind.INVOICE,
        reference=reference,
        amount_minor=amount_minor,
        currency="USD",
    )
    flags = [(UNMATCHED, "The payer's reference matched no open invoice.")]
    return payments.submit_plan(
        payments.Origin(
            firm_id=firm.id,
            client_id=prepared.client_id,
            link_id=None,
            payer_reference=reference,
            payer_typed_minor=prepared.typed_minor,
        ),
        prepared.plan,
        method=PaymentMethod.CARD,
        instrument=VISA,
        idempotency_key=f"public-{next(_keys)}",
        payer=payments.Payer(
            name="A Stranger", email="s@example.com", ip="203.0.113.9", user_agent="pytest"
        ),
        flags=flags if prepared.unmatched else (),
    )
