"""Payment fixtures: a client with two matters, open invoices, trust history, and a link."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from portal.billing.models import Client, Invoice, Matter
from portal.gateways.base import Instrument
from portal.gateways.sandbox import SandboxGateway
from portal.links.models import Link
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import Payment, PaymentMethod
from tests import factories

VISA = Instrument(card_number="4242 4242 4242 4242", card_expiry="12/40", card_cvc="123")
DECLINED = Instrument(card_number="4000000000000002", card_expiry="12/40", card_cvc="123")
ACH_OK = Instrument(
    routing_number="110000000", account_number="000123456789", account_holder="Ada Client"
)
ACH_CLOSED = Instrument(routing_number="110000000", account_number="000111111113")
ACH_RETURNED = Instrument(routing_number="110000000", account_number="000555555559")
MANDATE = "I authorize the firm to debit my account once for the amount shown."


@dataclass
class Book:
    client: Client
    matter: Matter
    other_matter: Matter
    old: Invoice
    new: Invoice
    link: Link


@pytest.fixture
def book(session, firm) -> Book:
    person = factories.client(firm)
    matter = factories.matter(person, trust_minimum_minor=500_000)
    other = factories.matter(person)
    from portal import clock

    today = clock.today()
    old = factories.invoice(
        matter, total_minor=120_000, due_on=today - dt.timedelta(days=5), number="INV-OLD"
    )
    new = factories.invoice(
        matter, total_minor=80_000, due_on=today + dt.timedelta(days=25), number="INV-NEW"
    )
    factories.trust_entry(matter, 200_000)
    return Book(person, matter, other, old, new, factories.link(person))


def settle_ach(merchant_account_id: int) -> list[str]:
    """Let the banks settle the sandbox's ACH debits on this account now (the banking days).

    The sandbox hands back the processor events its settlements produce, and payments applies
    them as received events, as the sandbox-settle command does.
    """
    events = SandboxGateway(merchant_account_id).settle_due(older_than=dt.timedelta(0))
    return payments.apply_gateway_events(merchant_account_id, events)


_keys = iter(range(1, 10_000))


def pay(
    book: Book,
    *,
    invoices: dict[int, int] | None = None,
    trust: dict[int, int] | None = None,
    method: PaymentMethod = PaymentMethod.CARD,
    instrument: Instrument = VISA,
    key: str | None = None,
    ip: str = "203.0.113.9",
) -> Payment:
    return payments.start_payment(
        link=book.link,
        basket=allocation.Basket(invoices=invoices or {}, trust_deposits=trust or {}),
        method=method,
        instrument=instrument,
        idempotency_key=key or f"key-{next(_keys)}",
        payer=payments.Payer(
            name="Ada Client", email="ada@example.com", ip=ip, user_agent="pytest"
        ),
        mandate_text=MANDATE if method is PaymentMethod.ACH else None,
    )


def refund_all(book: Book, payment: Payment, key: str) -> None:
    """Refund everything left on `payment` through the firm's refund use case."""
    payments.refund_payment(
        firm_id=book.link.firm_id,
        payment_public_id=payment.public_id,
        lines=None,
        idempotency_key=key,
    )
