"""Each event emails once, to the firm's active staff who chose its kind, and to nobody else:
not another firm's staff, not a deactivated or never-activated user; the same event again (a
processor's re-delivery) emails nobody a second time."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from portal import clock
from portal.audit.services import Actor
from portal.db import db
from portal.gateways.base import GatewayEvent
from portal.mail.models import OutgoingEmail
from portal.notifications.choices import Kind, save_choices
from portal.notifications.models import NotifiedEvent
from portal.notifications.sending import Notice, notify, purge_notified
from portal.payments import services as payments
from portal.payments.models import ChargeStatus, PaymentMethod
from portal.postings import endpoints
from tests import factories
from tests.api.unmatched_books import public_payment
from tests.clocks import Clock
from tests.notifications.conftest import Staff, notified
from tests.payments.conftest import (
    ACH_RETURNED,
    DECLINED,
    Book,
    pay,
    refund_all,
    settle_ach,
)
from tests.postings.conftest import Receiver, add_endpoint

ADA, SAM = "ada@okafor.example", "sam@okafor.example"


def _to(*people: str) -> list[str]:
    return sorted(people)


def _recipients(subject_start: str) -> list[str]:
    return sorted(to for to, subject in notified() if subject.startswith(subject_start))


def test_a_payment_that_succeeds_emails_only_who_chose_success(book: Book, staff: Staff) -> None:
    # given an admin on the defaults (no success emails) and a staff user who chose them
    # when a card payment split between an invoice and trust succeeds
    payment = pay(book, invoices={book.new.id: 80_000}, trust={book.matter.id: 10_000})
    assert len(payment.charges) == 2
    # then one email, for the payment (not one per charge), to the one who chose it
    assert notified() == [(SAM, f"A payment succeeded ({payment.number})")]


def test_a_declined_payment_emails_the_admin_and_who_chose_it(book: Book, staff: Staff) -> None:
    payment = pay(book, invoices={book.new.id: 80_000}, instrument=DECLINED)
    assert payment.charges[0].status is ChargeStatus.FAILED
    assert _recipients("A payment failed") == _to(ADA, SAM)
    assert len(notified()) == 2


def test_a_refund_emails_each_chooser_once_per_refund(book: Book, staff: Staff) -> None:
    payment = pay(book, invoices={book.new.id: 80_000})
    refund_all(book, payment, "r-1")
    refund_all(book, payment, "r-1")  # the same request again: the same refund
    assert _recipients("A payment was refunded") == _to(ADA, SAM)


def test_a_dispute_delivered_twice_emails_once(book: Book, staff: Staff) -> None:
    payment = pay(book, trust={book.matter.id: 10_000})
    (charge,) = payment.charges
    dispute = GatewayEvent(
        "evt_dispute_1", "dispute", None, charge.public_id, ChargeStatus.DISPUTED, clock.now()
    )
    # when the processor delivers the dispute, then delivers it again
    assert payments.apply_gateway_events(charge.merchant_account_id, [dispute]) == ["applied"]
    assert payments.apply_gateway_events(charge.merchant_account_id, [dispute]) == ["duplicate"]
    # then each one who chose disputes heard once
    assert _recipients("A payment was disputed") == _to(ADA, SAM)


def test_a_dispute_won_emails_who_chose_disputes_once(book: Book, staff: Staff) -> None:
    # given a staff user who chose disputes only (the admin chose them by default)
    save_choices(
        staff.keen.user,
        {**dict.fromkeys(Kind, False), Kind.PAYMENT_DISPUTED: True},
        Actor.staff(staff.keen.user.id),
    )
    payment = pay(book, invoices={book.new.id: 80_000})
    (charge,) = payment.charges
    account = charge.merchant_account_id
    opened = GatewayEvent(
        "evt_dispute_1", "dispute", None, charge.public_id, ChargeStatus.DISPUTED, clock.now()
    )
    won = GatewayEvent(
        "evt_dispute_2", "dispute_won", None, charge.public_id, ChargeStatus.SUCCEEDED, clock.now()
    )
    assert payments.apply_gateway_events(account, [opened]) == ["applied"]
    # when the processor says the dispute was won, then says it again
    assert payments.apply_gateway_events(account, [won]) == ["applied"]
    assert payments.apply_gateway_events(account, [won]) == ["duplicate"]
    assert charge.status is ChargeStatus.SUCCEEDED
    # then each one who chose disputes heard it once, and nobody heard of a new success
    assert _recipients("A dispute was won") == _to(ADA, SAM)
    assert _recipients("A payment was disputed") == _to(ADA, SAM)
    assert _recipients("A payment succeeded") == []
    (subject,) = {s for _, s in notified() if s.startswith("A dispute was won")}
    assert subject == f"A dispute was won ({payment.number})"
    # one row per event in notified_events: the dispute and its ending
    keys = db.session.scalars(
        select(NotifiedEvent.event_key).where(NotifiedEvent.firm_id == payment.firm_id)
    ).all()
    assert f"payment_disputed:{charge.public_id}:won:evt_dispute_2" in keys
    assert f"payment_disputed:{charge.public_id}:evt_dispute_1" in keys


def test_the_same_event_key_never_emails_twice(session, firm, staff: Staff) -> None:
    notice = Notice(
        firm_id=firm.id, kind=Kind.PAYMENT_DISPUTED, key="ch_1:evt_1", console_path="/console"
    )
    assert notify(notice) == 2
    assert notify(notice) == 0
    # another event of the same charge is news again
    assert notify(Notice(**{**notice.__dict__, "key": "ch_1:evt_2"})) == 2


def test_an_ach_return_that_empties_trust_emails_the_return_and_the_shortfall(
    book: Book, staff: Staff
) -> None:
    # given an ACH trust deposit, and the firm spending trust money meanwhile
    payment = pay(
        book, trust={book.matter.id: 100_000}, method=PaymentMethod.ACH, instrument=ACH_RETURNED
    )
    (charge,) = payment.charges
    factories.trust_entry(book.matter, -250_000)
    # when the deposit comes back
    settle_ach(charge.merchant_account_id)
    assert charge.status is ChargeStatus.RETURNED
    # then the return and the shortfall (by 50.00) each reach who chose them
    assert _recipients("A bank payment was returned") == _to(ADA, SAM)
    assert _recipients("A matter's trust balance fell below zero") == _to(ADA, SAM)
    # (and, before it came back, its settling reached who chose successes)
    assert len(notified()) == 5 and _recipients("A payment succeeded") == [SAM]


def test_an_unmatched_payment_emails_its_arrival(session, firm, staff: Staff) -> None:
    payment = public_payment(firm.firm, "NO-SUCH-INVOICE", 5_000)
    assert _recipients("An unmatched payment arrived") == _to(ADA, SAM)
    # and its success reaches who chose success too, separately
    assert notified().count((SAM, f"A payment succeeded ({payment.number})")) == 1


def test_a_disabled_endpoint_emails_who_chose_it_without_its_query(
    session, firm, staff: Staff, receiver: Receiver, webhook_settings
) -> None:
    endpoint = add_endpoint(firm.firm, receiver)
    endpoint.url = receiver.url + "?token=s3cret"
    db.session.flush()
    endpoints.disable_endpoint(endpoint, reason="The receiver answered 410 Gone.")
    db.session.commit()
    assert _recipients("A webhook endpoint was disabled") == _to(ADA, SAM)
    assert all(b"s3cret" not in row for row in _messages())
    # disabling it again (already disabled) says nothing more
    endpoints.disable_endpoint(endpoint, reason="Again.")
    db.session.commit()
    assert len(notified()) == 2


def _messages() -> list[bytes]:
    return [row.message for row in db.session.query(OutgoingEmail).all()]


def test_old_event_keys_are_purged_and_recent_ones_kept(
    app: Flask, session, firm, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_clock = Clock(clock.now())
    monkeypatch.setattr(clock, "now", frozen_clock)
    first = Notice(firm_id=firm.id, kind=Kind.PAYMENT_DISPUTED, key="ch_1:evt_1", console_path="/")
    assert notify(first) == 2
    frozen_clock.advance(days=60)
    second = Notice(firm_id=firm.id, kind=Kind.PAYMENT_DISPUTED, key="ch_1:evt_2", console_path="/")
    assert notify(second) == 2
    session.commit()

    def keys() -> set[str]:
        return set(db.session.scalars(select(NotifiedEvent.event_key)))

    frozen_clock.advance(days=29)  # the first is 89 days old
    assert purge_notified() == 0
    frozen_clock.advance(days=2)  # 91 days: gone; the second (31 days) kept
    result = app.test_cli_runner().invoke(args=["deliver-webhooks", "--once", "--no-email"])
    assert result.exit_code == 0, result.output
    assert keys() == {second.event_key}
    # the retention is a setting, never below 30 days
    app.config["NOTIFIED_EVENTS_RETENTION_DAYS"] = 1
    assert purge_notified() == 1
    assert keys() == set()
