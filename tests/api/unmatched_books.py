"""Payments through the firm's public pay page (the pay button), as the page makes them:
matched to an open invoice by its number, or taken unapplied and flagged `unmatched`."""

from __future__ import annotations

import itertools

from portal.firms.models import Firm, MerchantAccountKind
from portal.paybutton import services as paybutton
from portal.payments import allocation
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


def unapplied_trust_payment(firm: Firm, amount_minor: int) -> Payment:
    """Money taken into the trust account that no line names, flagged `unmatched`.

    The pay button never takes trust money unapplied (a deposit must name a matter and its
    client); this is the shape such a payment would have, for the routing rules' other side.
    """
    plan = allocation.Plan(
        currency="USD",
        charges=(
            allocation.PlannedCharge(
                account_kind=MerchantAccountKind.TRUST,
                currency="USD",
                lines=(),
                unapplied_minor=amount_minor,
            ),
        ),
    )
    return payments.submit_plan(
        payments.Origin(firm_id=firm.id, client_id=None, link_id=None, payer_reference="RET"),
        plan,
        method=PaymentMethod.CARD,
        instrument=VISA,
        idempotency_key=f"trust-{next(_keys)}",
        payer=payments.Payer(
            name="A Stranger", email="s@example.com", ip="203.0.113.9", user_agent="pytest"
        ),
        flags=[(UNMATCHED, "The payer's reference matched no matter.")],
    )
