"""The link emailed when the payer's bank asks for the payer on a charge the firm started with a
saved card: it carries the failed payment's lines (`link_lines`), so the client's pay page opens
with exactly those invoices, deposits and amounts, and paying it pays exactly them."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.links.models import Link, LinkDelivery
from portal.payments import firm_charges
from portal.payments.firm_charges import ChargeLine
from portal.payments.models import AllocationKind, ChargeStatus, Payment
from tests.payers.helpers import ALWAYS_3DS, saved_for
from tests.payments.test_views import VISA, Books, Browser, books, payments_of, text_of

__all__ = ["books"]  # the fixture, used here too


@pytest.fixture
def failed(session, books: Books) -> Payment:
    """A firm-initiated charge of a saved card whose bank wants the payer: nothing charged."""
    method = saved_for(books.client, ALWAYS_3DS)
    outcome = firm_charges.charge_saved_method(
        firm_id=books.client.firm_id,
        client=books.client.external_id,
        payer=method.payer.public_id,
        payment_method=method.public_id,
        lines=[
            ChargeLine(invoice=books.old.external_id, amount=70_000),
            ChargeLine(invoice=books.probate.external_id, amount=64_000),
            ChargeLine(matter=books.lawsuit.external_id, trust_amount=45_000),
        ],
        idempotency_key="auth-link-1",
    )
    assert outcome.link_sent
    assert {c.status for c in outcome.payment.charges} == {ChargeStatus.FAILED}
    return outcome.payment


def _emailed_link(session) -> Link:
    (delivery,) = session.scalars(select(LinkDelivery)).all()
    link = session.get(Link, delivery.link_id)
    assert link is not None
    return link


def test_the_emailed_link_carries_the_failed_payments_lines(
    session, books: Books, failed: Payment
) -> None:
    link = _emailed_link(session)
    carried = sorted(
        (line.invoice_id or 0, line.matter_id, line.amount_minor) for line in link.lines
    )
    tried = sorted(
        (a.invoice_id or 0, a.matter_id, a.amount_minor)
        for charge in failed.charges
        for a in charge.allocations
    )
    assert carried == tried
    assert carried == sorted(
        [
            (books.old.id, books.lawsuit.id, 70_000),
            (books.probate.id, books.estate.id, 64_000),
            (0, books.lawsuit.id, 45_000),
        ]
    )
    assert sorted(m.id for m in link.matters) == sorted([books.lawsuit.id, books.estate.id])


def test_the_pay_page_opens_with_exactly_those_lines_and_pays_them(
    client: FlaskClient, session, books: Books, failed: Payment
) -> None:
    payer = Browser(client)
    payer.open(_emailed_link(session))
    basket = payer.basket()
    assert sorted(basket.values("invoice")) == sorted([str(books.old.id), str(books.probate.id)])
    assert basket.value(f"invoice-{books.old.id}") == "700.00"
    assert basket.value(f"invoice-{books.probate.id}") == "640.00"
    assert basket.values("trust") == [str(books.lawsuit.id)]
    assert basket.value(f"trust-{books.lawsuit.id}") == "450.00"
    assert "INV-NEW" not in text_of(payer.get("/pay").text)

    review = payer.basket().set("method", "card").submit()
    assert review.status_code == 200, text_of(review.text)
    done = payer.form(review, "confirm").fill(VISA).submit()
    assert done.status_code == 303
    paid = [p for p in payments_of(session, books) if p.id != failed.id]
    (payment,) = paid
    assert sorted(
        (a.kind, a.invoice_id or a.matter_id, a.amount_minor)
        for charge in payment.charges
        for a in charge.allocations
    ) == sorted(
        [
            (AllocationKind.INVOICE, books.old.id, 70_000),
            (AllocationKind.INVOICE, books.probate.id, 64_000),
            (AllocationKind.TRUST_DEPOSIT, books.lawsuit.id, 45_000),
        ]
    )


def test_a_line_no_longer_payable_leaves_a_link_to_the_matters(session, books: Books) -> None:
    """Settled meanwhile (here: before the email is built): the link still goes, without lines."""
    method = saved_for(books.client, ALWAYS_3DS)
    outcome = firm_charges.charge_saved_method(
        firm_id=books.client.firm_id,
        client=books.client.external_id,
        payer=method.payer.public_id,
        payment_method=method.public_id,
        lines=[ChargeLine(invoice=books.old.external_id, amount=70_000)],
        idempotency_key="auth-link-2",
    )
    books.old.balance_due_minor = 10_000
    session.flush()

    assert firm_charges.authentication_link(outcome.payment)

    first, newest = session.scalars(
        select(Link).join(LinkDelivery, LinkDelivery.link_id == Link.id).order_by(Link.id)
    ).all()
    assert [line.invoice_id for line in first.lines] == [books.old.id]
    assert newest.lines == []
    assert [m.id for m in newest.matters] == [books.lawsuit.id]
