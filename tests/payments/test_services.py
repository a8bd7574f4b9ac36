"""The payment core through the sandbox gateway: routing, money effects, history, idempotency."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from portal import clock
from portal.billing.models import InvoiceStatus
from portal.firms.models import MerchantAccountKind
from portal.gateways import sandbox
from portal.gateways.base import BadSignature, Instrument
from portal.gateways.models import InboundEvent
from portal.gateways.stripe_events import sign_payload
from portal.ledger import services as ledger
from portal.ledger.models import TrustEntry
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import ChargeStatus, FailedAttempt, PaymentMethod
from portal.payments.services import TooManyAttempts
from tests.payments.conftest import (
    ACH_CLOSED,
    ACH_OK,
    ACH_RETURNED,
    DECLINED,
    Book,
    pay,
    refund_all,
    settle_ach,
)

S = ChargeStatus


def _trust(session, matter_id: int) -> int:
    return ledger.trust_balance(matter_id)


def test_invoices_and_trust_become_two_charges_one_per_account(session, book: Book) -> None:
    # when the client pays two invoices and a trust deposit by card
    payment = pay(
        book, invoices={book.old.id: 120_000, book.new.id: 30_000}, trust={book.matter.id: 50_000}
    )
    # then there is one charge per merchant account, never mixed
    operating, trust = payment.charges
    assert operating.account_kind is MerchantAccountKind.OPERATING
    assert trust.account_kind is MerchantAccountKind.TRUST
    assert operating.merchant_account.kind is MerchantAccountKind.OPERATING
    assert trust.merchant_account.kind is MerchantAccountKind.TRUST
    assert (operating.amount_minor, trust.amount_minor) == (150_000, 50_000)
    assert payment.total_minor == 200_000
    assert {a.kind.value for a in operating.allocations} == {"invoice"}
    assert {a.kind.value for a in trust.allocations} == {"trust_deposit"}
    # and both succeeded, with the card's brand and last four only
    assert [c.status for c in payment.charges] == [S.SUCCEEDED, S.SUCCEEDED]
    assert operating.instrument_brand == "visa" and operating.instrument_last4 == "4242"
    # and the money effects happened
    assert book.old.balance_due_minor == 0 and book.old.status is InvoiceStatus.PAID
    assert book.new.balance_due_minor == 50_000 and book.new.status is InvoiceStatus.OPEN
    assert book.old.reserved_minor == book.new.reserved_minor == 0
    assert _trust(session, book.matter.id) == 250_000
    portal_entry = session.scalars(select(TrustEntry).where(TrustEntry.charge_id == trust.id)).one()
    assert portal_entry.source == "portal" and portal_entry.amount_minor == 50_000


def test_fees_are_recorded_on_operating_and_never_trust(session, book: Book) -> None:
    payment = pay(book, invoices={book.old.id: 120_000}, trust={book.matter.id: 100_000})
    operating, trust = payment.charges
    assert operating.fee_minor == sandbox.card_fee(120_000)
    # The trust charge's fee is the processor's fact, but the ledger gets the gross amount.
    deposit = session.scalars(select(TrustEntry).where(TrustEntry.charge_id == trust.id)).one()
    assert deposit.amount_minor == 100_000


def test_history_records_every_change(session, book: Book) -> None:
    payment = pay(book, invoices={book.old.id: 120_000})
    (charge,) = payment.charges
    moves = [(e.from_status, e.to_status, e.source) for e in charge.events]
    assert moves[0] == (None, S.CREATED, "portal")
    assert (S.CREATED, S.SUCCEEDED) in [(a, b) for a, b, _ in moves]
    inbox = session.scalars(select(InboundEvent)).all()
    assert [e.type for e in inbox] == ["payment_intent.succeeded"]


def test_same_key_charges_once(session, book: Book) -> None:
    first = pay(book, invoices={book.new.id: 10_000}, key="double-click")
    second = pay(book, invoices={book.new.id: 10_000}, key="double-click")
    assert second.id == first.id
    assert book.new.balance_due_minor == 70_000
    assert len(session.scalars(select(sandbox.SandboxIntent)).all()) == 1


@pytest.mark.parametrize(
    ("invoices", "message"),
    [
        ({"old": 120_001}, "left to pay"),
        ({"old": 0}, "above zero"),
        ({"old": -500}, "above zero"),
        ({"old": 50}, "smallest payment"),
        ({"foreign": 100}, "not open for payment"),
        ({}, "Choose at least one"),
    ],
)
def test_server_refuses_what_is_not_due(session, book: Book, firm, invoices, message) -> None:
    stranger = __import__("tests.factories", fromlist=["x"])
    other_invoice = stranger.invoice(stranger.matter(stranger.client(firm)))
    ids = {"old": book.old.id, "foreign": other_invoice.id}
    with pytest.raises(allocation.AllocationError) as caught:
        pay(book, invoices={ids[k]: v for k, v in invoices.items()})
    assert message in json.dumps(caught.value.errors)
    assert book.old.balance_due_minor == 120_000


def test_a_paid_tab_cannot_be_paid_again_from_another(session, book: Book) -> None:
    pay(book, invoices={book.new.id: 80_000}, key="tab-1")
    with pytest.raises(allocation.AllocationError):
        pay(book, invoices={book.new.id: 80_000}, key="tab-2")


def test_declined_card_releases_the_hold_and_counts_an_attempt(session, book: Book) -> None:
    payment = pay(book, invoices={book.old.id: 120_000}, instrument=DECLINED)
    (charge,) = payment.charges
    assert charge.status is S.FAILED and charge.failure_code == "card_declined"
    assert book.old.reserved_minor == 0 and book.old.balance_due_minor == 120_000
    assert payments.payment_status(payment) == "failed"
    assert len(session.scalars(select(FailedAttempt)).all()) == 1


def test_non_test_card_is_refused_by_the_sandbox(session, book: Book) -> None:
    real = Instrument(card_number="4111 1111 1111 1111", card_expiry="12/40", card_cvc="123")
    (charge,) = pay(book, invoices={book.old.id: 120_000}, instrument=real).charges
    assert charge.status is S.FAILED and charge.failure_code == "use_test_number"
    assert "test numbers" in (charge.failure_message or "")


def test_card_testing_is_limited_per_link(session, book: Book) -> None:
    for n in range(5):
        pay(book, invoices={book.old.id: 120_000}, instrument=DECLINED, ip=f"198.51.100.{n}")
    with pytest.raises(TooManyAttempts):
        pay(book, invoices={book.old.id: 120_000})


def test_card_testing_is_limited_per_ip(session, book: Book, monkeypatch, app) -> None:
    app.config["PAYMENT_FAILURES_PER_LINK_PER_HOUR"] = 100
    for _ in range(20):
        pay(book, invoices={book.old.id: 120_000}, instrument=DECLINED, ip="192.0.2.1")
    with pytest.raises(TooManyAttempts):
        pay(book, invoices={book.old.id: 120_000}, ip="192.0.2.1")
    # and an hour later the same IP may try again
    later = clock.now() + dt.timedelta(hours=1, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    pay(book, invoices={book.old.id: 120_000}, ip="192.0.2.1")


def test_ach_is_processing_until_settled_and_pending_trust_does_not_count(
    session, book: Book
) -> None:
    payment = pay(
        book,
        invoices={book.new.id: 80_000},
        trust={book.matter.id: 100_000},
        method=PaymentMethod.ACH,
        instrument=ACH_OK,
    )
    assert [c.status for c in payment.charges] == [S.PROCESSING, S.PROCESSING]
    assert payment.mandate_accepted_at is not None and payment.mandate_ip == "203.0.113.9"
    # pending: the invoice is held, not paid; the deposit is not trust money yet
    assert book.new.reserved_minor == 80_000 and book.new.balance_due_minor == 80_000
    assert _trust(session, book.matter.id) == 200_000
    # when the banks settle
    for charge in payment.charges:
        settle_ach(charge.merchant_account_id)
    # then
    assert [c.status for c in payment.charges] == [S.SUCCEEDED, S.SUCCEEDED]
    assert book.new.balance_due_minor == 0 and book.new.reserved_minor == 0
    assert _trust(session, book.matter.id) == 300_000


def test_ach_failure_after_processing_releases_the_hold(session, book: Book) -> None:
    payment = pay(
        book, invoices={book.new.id: 80_000}, method=PaymentMethod.ACH, instrument=ACH_CLOSED
    )
    (charge,) = payment.charges
    settle_ach(charge.merchant_account_id)
    assert charge.status is S.FAILED and charge.failure_code == "account_closed"
    assert book.new.reserved_minor == 0 and book.new.balance_due_minor == 80_000


def test_ach_needs_the_mandate(session, book: Book) -> None:
    with pytest.raises(Exception, match="authorization"):
        payments.start_payment(
            link=book.link,
            basket=allocation.Basket(invoices={book.new.id: 1000}),
            method=PaymentMethod.ACH,
            instrument=ACH_OK,
            idempotency_key="k-mandate",
            payer=payments.Payer("A", None, "1.2.3.4", "ua"),
            mandate_text=None,
        )


def test_return_after_success_reverses_and_flags_trust_below_zero(session, book: Book) -> None:
    # given a trust deposit by ACH that settles
    payment = pay(
        book, trust={book.matter.id: 100_000}, method=PaymentMethod.ACH, instrument=ACH_RETURNED
    )
    (charge,) = payment.charges
    # and the firm spent trust money in the meantime (a disbursement synced from the back office)
    from tests import factories

    factories.trust_entry(book.matter, -250_000)
    # when the deposit comes back as a return
    settle_ach(charge.merchant_account_id)
    # then it is reversed, the balance is shown as it is, and the payment is loudly flagged
    assert charge.status is S.RETURNED
    assert _trust(session, book.matter.id) == 200_000 + 100_000 - 250_000 - 100_000
    assert [f.code for f in payment.flags] == ["trust_below_zero"]
    assert _trust(session, book.other_matter.id) == 0


def test_refund_of_a_trust_deposit_is_capped_at_the_matter_balance(session, book: Book) -> None:
    payment = pay(book, trust={book.matter.id: 100_000})
    (charge,) = payment.charges
    (line,) = charge.allocations
    from tests import factories

    factories.trust_entry(book.matter, -250_000)  # only 50,000 left in trust now
    with pytest.raises(Exception, match="trust balance"):
        payments.refund_payment(
            firm_id=book.link.firm_id,
            payment_public_id=payment.public_id,
            lines=[payments.RefundLine(line.id, 60_000)],
            idempotency_key="r-1",
        )
    refunds = payments.refund_payment(
        firm_id=book.link.firm_id,
        payment_public_id=payment.public_id,
        lines=[payments.RefundLine(line.id, 50_000)],
        idempotency_key="r-2",
    )
    again = payments.refund_payment(
        firm_id=book.link.firm_id,
        payment_public_id=payment.public_id,
        lines=[payments.RefundLine(line.id, 50_000)],
        idempotency_key="r-2",
    )
    assert [r.id for r in again] == [r.id for r in refunds]
    assert charge.status is S.PARTIALLY_REFUNDED and charge.refunded_minor == 50_000
    assert _trust(session, book.matter.id) == 0


def test_full_refund_of_an_invoice_payment_reopens_it(session, book: Book) -> None:
    payment = pay(book, invoices={book.new.id: 80_000})
    refund_all(book, payment, "r-all")
    (charge,) = payment.charges
    assert charge.status is S.REFUNDED
    assert book.new.balance_due_minor == 80_000 and book.new.status is InvoiceStatus.OPEN


def _signed(account_id: int, event: dict, *, at: dt.datetime | None = None) -> tuple[bytes, str]:
    body = json.dumps(event)
    return body.encode(), sign_payload(body, sandbox.webhook_secret(account_id), at=at)


def test_events_are_applied_once_and_stale_ones_ignored(session, book: Book) -> None:
    payment = pay(book, invoices={book.new.id: 80_000})
    (charge,) = payment.charges
    processing = {
        "id": "evt_late",
        "type": "payment_intent.processing",
        "created": 1,
        "data": {"object": {"id": charge.gateway_ref, "metadata": {}}},
    }
    body, header = _signed(charge.merchant_account_id, processing)
    # a "processing" arriving after "succeeded" is stale news
    assert payments.receive_gateway_event(charge.merchant_account_id, body, header).startswith(
        "ignored"
    )
    # the same event again is a duplicate
    assert payments.receive_gateway_event(charge.merchant_account_id, body, header) == "duplicate"
    assert charge.status is S.SUCCEEDED


@pytest.mark.parametrize("tamper", ["body", "secret", "old", "future", "missing"])
def test_bad_signatures_are_refused(session, book: Book, tamper: str) -> None:
    payment = pay(book, invoices={book.new.id: 80_000})
    (charge,) = payment.charges
    event = {
        "id": "evt_x",
        "type": "payment_intent.payment_failed",
        "created": 1,
        "data": {"object": {"id": charge.gateway_ref, "metadata": {}}},
    }
    body, header = _signed(charge.merchant_account_id, event)
    if tamper == "body":
        body = body.replace(b"evt_x", b"evt_y")
    elif tamper == "secret":
        header = sign_payload(body.decode(), "whsec_wrong")
    elif tamper == "old":
        header = sign_payload(
            body.decode(),
            sandbox.webhook_secret(charge.merchant_account_id),
            at=clock.now() - dt.timedelta(seconds=301),
        )
    elif tamper == "future":
        header = sign_payload(
            body.decode(),
            sandbox.webhook_secret(charge.merchant_account_id),
            at=clock.now() + dt.timedelta(seconds=301),
        )
    else:
        header = ""
    with pytest.raises(BadSignature):
        payments.receive_gateway_event(charge.merchant_account_id, body, header)
    assert charge.status is S.SUCCEEDED


def test_the_sandbox_hands_its_events_back_and_changes_nothing_of_ours(session, book: Book) -> None:
    # given a recorded charge that the gateway has not been asked about yet
    from portal.gateways.base import ChargeRequest
    from portal.gateways.sandbox import SandboxGateway

    payment = pay(book, invoices={book.old.id: 120_000})
    (charge,) = payment.charges
    events_before = len(charge.events)
    request = ChargeRequest(
        charge_ref="not-ours",
        merchant_account_id=charge.merchant_account_id,
        amount_minor=1_000,
        currency="USD",
        method="card",
        instrument=Instrument(card_number="4242424242424242", card_expiry="12/40", card_cvc="123"),
        description="probe",
    )
    # when the sandbox charges
    result = SandboxGateway(charge.merchant_account_id).charge(request, idempotency_key="probe")
    # then its verified event comes back with the answer, and nothing was applied or committed
    (event,) = result.events
    assert (event.type, event.gateway_ref, event.charge_ref) == (
        "payment_intent.succeeded",
        result.gateway_ref,
        None,
    )
    assert event.status is S.SUCCEEDED and event.event_id.startswith("evt_sbx_")
    assert len(session.scalars(select(InboundEvent)).all()) == 1  # the first payment's only
    assert len(charge.events) == events_before


def test_a_sandbox_refund_is_confirmed_by_its_event_not_flagged(session, book: Book) -> None:
    payment = pay(book, invoices={book.new.id: 80_000})
    refund_all(book, payment, "r-event")
    inbox = session.scalars(select(InboundEvent).order_by(InboundEvent.id)).all()
    assert [(e.type, e.outcome) for e in inbox] == [
        ("payment_intent.succeeded", "ignored: succeeded cannot become succeeded"),
        ("charge.refunded", "applied: refund confirmed"),
    ]
    assert payment.flags == []


def test_settlement_events_are_taken_once(session, book: Book) -> None:
    payment = pay(book, invoices={book.new.id: 80_000}, method=PaymentMethod.ACH, instrument=ACH_OK)
    (charge,) = payment.charges
    from portal.gateways.sandbox import SandboxGateway

    events = SandboxGateway(charge.merchant_account_id).settle_due(older_than=dt.timedelta(0))
    assert payments.apply_gateway_events(charge.merchant_account_id, events) == ["applied"]
    assert payments.apply_gateway_events(charge.merchant_account_id, events) == ["duplicate"]
    assert charge.status is S.SUCCEEDED and book.new.balance_due_minor == 0
