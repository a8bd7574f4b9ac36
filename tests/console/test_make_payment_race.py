"""Step 4 sent several times at once (a double click that really overlaps): a saved method is
charged once, Send for payment issues one link, and "Save payer" keeps one payer; and a staff
user's first-ever ticks sent at once make one draft and lose none of them.

Real threads with their own connections on the shared committed database (`committed_app`);
on PostgreSQL the calls really overlap and the unique keys (payments' idempotency key, links'
creation token, the draft's primary key) or a row lock (the client's, for a new payer)
decide. The use cases are called as the console's views call them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import clock
from portal.db import db
from portal.gateways.base import Instrument
from portal.links.models import Link, LinkDelivery
from portal.payers.models import ConsentScope, MethodKind, Payer
from portal.payments import drafts, staff_payments, staff_saved
from portal.payments.models import Charge, Payment, StaffPaymentDraft
from tests import factories
from tests.api.payment_books import make_book
from tests.console.conftest import make_person
from tests.payers.helpers import saved_for

THREADS = 4


@dataclass
class Race:
    app: Flask
    firm_id: int
    staff_id: int
    invoice_id: int
    matter_id: int
    payer_id: str
    method_id: str


@pytest.fixture
def race(committed_app: Flask) -> Race:
    with committed_app.app_context():
        with db.transaction():
            firm = factories.firm_with_key("Race & Co")
            book = make_book(firm)
            staff = make_person(firm, "sam@race.example", role="staff", mfa=False)
        method = saved_for(book.client)
        ready = Race(
            committed_app,
            firm.id,
            staff.user.id,
            book.old.id,
            book.matter.id,
            method.payer.public_id,
            method.public_id,
        )
        db.session.commit()  # no transaction (on SQLite, a write lock) held by the test
    return ready


def _staged(race: Race) -> staff_payments.StaffPlan:
    chosen = staff_payments.selection(
        race.firm_id, [("invoice", race.invoice_id), ("matter", race.matter_id)], clock.today()
    )
    return staff_payments.plan_for(
        race.firm_id, chosen, invoices={race.invoice_id: 10_000}, deposits={race.matter_id: 5_000}
    )


def _at_once(race: Race, call: Callable[[], Any]) -> list[Any]:
    start = threading.Barrier(THREADS)

    def run(_: int) -> Any:
        with race.app.app_context():
            start.wait()
            return call().public_id

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_a_saved_method_charged_at_once_charges_once(race: Race) -> None:
    taker = staff_payments.Taker(race.staff_id, "sam@race.example", "127.0.0.1", "test", None)

    def pay() -> Payment:
        return staff_saved.take_with_saved_method(
            firm_id=race.firm_id,
            staged=_staged(race),
            payer_id=race.payer_id,
            method_id=race.method_id,
            phone_consent=None,
            receipts=[],
            ar_note=None,
            idempotency_key=f"staff:{race.staff_id}:same-form",
            taker=taker,
            today=clock.today(),
        )

    ids = _at_once(race, pay)
    assert len(set(ids)) == 1
    with race.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
        assert db.session.scalar(select(func.count()).select_from(Charge)) == 2


def test_send_for_payment_sent_at_once_sends_one_link(race: Race) -> None:
    def send() -> Link:
        return staff_payments.send_for_payment(
            firm_id=race.firm_id,
            staged=_staged(race),
            email=None,
            message=None,
            ar_note=None,
            staff_user_id=race.staff_id,
            once=f"staff:{race.staff_id}:same-form",
        )

    ids = _at_once(race, send)
    assert len(set(ids)) == 1
    with race.app.app_context():
        made = select(func.count()).select_from(Link).where(Link.creation_token.is_not(None))
        assert db.session.scalar(made) == 1
        assert db.session.scalar(select(func.count()).select_from(LinkDelivery)) == 1


def test_save_payer_sent_at_once_keeps_one_payer(race: Race) -> None:
    """Two staff (or two tabs) save the same new payer at once, each its own form and key."""
    taker = staff_payments.Taker(race.staff_id, "sam@race.example", "127.0.0.1", "test", None)
    new = staff_saved.NewPayer(
        name="Pat Parent",
        email="pat@parent.example",
        kind=MethodKind.CARD,
        instrument=Instrument(card_number="4242424242424242", card_expiry="12/40", card_cvc="1"),
        scope=ConsentScope.FUTURE_FIRM_INITIATED,
        words="I authorize Race & Co to keep this card.",
    )
    forms = iter(range(THREADS))
    lock = threading.Lock()

    def save() -> Payment:
        with lock:
            form = next(forms)
        chosen = staff_payments.selection(
            race.firm_id, [("invoice", race.invoice_id)], clock.today()
        )
        staged = staff_payments.plan_for(
            race.firm_id, chosen, invoices={race.invoice_id: 1_000}, deposits={}
        )
        return staff_saved.take_and_save(
            firm_id=race.firm_id,
            staged=staged,
            new=new,
            receipts=[],
            ar_note=None,
            idempotency_key=f"staff:{race.staff_id}:form-{form}",
            taker=taker,
        )

    ids = _at_once(race, save)
    assert len(set(ids)) == THREADS  # four forms, four payments
    with race.app.app_context():
        saved = db.session.scalars(select(Payer).where(Payer.name == "Pat Parent")).all()
        assert len(saved) == 1
        payments = db.session.scalars(select(Payment)).all()
        assert {p.payer_name for p in payments} == {"Pat Parent"}


def test_first_ever_ticks_sent_at_once_make_one_draft_and_keep_every_tick(race: Race) -> None:
    """A user with no draft yet ticks four lines in four requests at once."""
    items = [("invoice", race.invoice_id + n) for n in range(THREADS)]
    turns = iter(items)
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def tick(_: int) -> list[drafts.Item]:
        with lock:
            item = next(turns)
        with race.app.app_context():
            start.wait()
            return drafts.update_ticks(race.staff_id, race.firm_id, [item], [item])

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(tick, range(THREADS)))

    assert all(answers)
    with race.app.app_context():
        (draft,) = db.session.scalars(select(StaffPaymentDraft)).all()
        assert sorted(drafts.selected_items(draft)) == sorted(items)
