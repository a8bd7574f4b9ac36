"""Make a payment in the console, step 4a with saved payers, through the Flask test client: a
new payer's card kept with "Save payer" (the consent's exact words, scope, how and staff user),
a second payment with the saved method (no card typed; one charge per merchant account; the
custom A/R message; receipts only to the typed address; a double click is one payment), a
method kept for "this payment only" needing the payer's word by phone, a kept card declined on
its first payment forgotten (audited as the system), another client's or firm's payer or method
refused, and an expired card never offered."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.db import db
from portal.links.models import Link
from portal.mail.models import OutgoingEmail
from portal.payers import services as payers
from portal.payers.models import Consent, ConsentHow, ConsentScope, Payer, SavedMethod
from portal.payments.models import Payment, PaymentSource
from portal.payments.postings import charge_data
from tests import factories
from tests.console.conftest import Console, Person
from tests.console.test_make_payment import CARD, MP, _carried, _preview, _search, _tick, book
from tests.payers.helpers import saved_for
from tests.payments.conftest import Book

__all__ = ["book"]  # the fixture, shared with the other make-payment tests

FUTURE_WORDS = (
    "I authorize {firm} to keep this payment method on file, to charge {total} to it now, and "
    "to charge it for future payments {firm} initiates until I ask for it to be removed."
)
THIS_WORDS = (
    "I authorize {firm} to keep this payment method on file and to charge {total} to it now, "
    "for this payment only."
)
PHONE_WORDS = (
    "I authorize {firm} to charge {total} to my saved payment method now, for this payment only."
)


def _step4(console: Console, book: Book, amounts: dict[str, str], lines: list[str]) -> str:
    _tick(console, _search(console, client="C-1"), lines)
    return _preview(console, amounts)


def _pay(console: Console, page: str, **fields: str) -> tuple[dict[str, str], object]:
    form = {**_carried(page, "pay"), **fields}
    form.pop("csrf_token")
    return form, console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")


def _choices(page: str) -> list[str]:
    return re.findall(r'name="payer_choice" value="([^"]+)"', page)


def _save_new_card(console: Console, book: Book, scope: str) -> Payment:
    page = _step4(console, book, {f"invoice-{book.old.id}": "100.00"}, [f"invoice-{book.old.id}"])
    _, answer = _pay(
        console,
        page,
        **{**CARD, "payer_name": "Ada Parent"},
        payer_email="ada.parent@example.com",
        save_payer="yes",
        consent_scope=scope,
        receipts="ada.parent@example.com",
        ar_note="First call",
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    return db.session.scalars(select(Payment).order_by(Payment.id.desc())).first()  # type: ignore[return-value]


def test_a_new_payer_saved_then_charged_again_without_a_card(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(staffer)
    first = _save_new_card(console, book, "future_firm_initiated")
    assert first.source is PaymentSource.STAFF and first.staff_user_id == staffer.user.id
    assert {c.status.value for c in first.charges} == {"succeeded"}
    payer = db.session.scalars(select(Payer).where(Payer.name == "Ada Parent")).one()
    assert (payer.client_id, payer.email, payer.is_client) == (
        book.client.id,
        "ada.parent@example.com",
        False,
    )
    (method,) = payer.methods
    assert (method.last4, method.exp_month, method.exp_year) == ("4242", 12, 2040)
    (consent,) = method.consents
    assert consent.words == FUTURE_WORDS.format(firm=firm.firm.name, total="$100.00")
    assert consent.scope is ConsentScope.FUTURE_FIRM_INITIATED
    assert consent.how is ConsentHow.STAFF_PHONE
    assert consent.staff_user_id == staffer.user.id

    # the second call: the saved card, an invoice and a trust deposit, no card typed
    page = _step4(
        console,
        book,
        {f"invoice-{book.old.id}": "200.00", f"trust-{book.matter.id}": "300.00"},
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )
    assert "Ada Parent: Visa •••• 4242, expires 12/2040" in page
    choice = f"{payer.public_id}:{method.public_id}"
    assert _choices(page) == [choice, "new"]
    form, answer = _pay(
        console, page, payer_choice=choice, receipts="office@example.org", ar_note="Second call"
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    again = console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")  # a double click
    assert again.headers["Location"] == answer.headers["Location"]  # type: ignore[attr-defined]
    payments = db.session.scalars(select(Payment).order_by(Payment.id)).all()
    assert len(payments) == 2
    second = payments[1]
    assert second.source is PaymentSource.STAFF and second.staff_user_id == staffer.user.id
    assert second.total_minor == 50_000
    assert sorted(c.account_kind.value for c in second.charges) == ["operating", "trust"]
    assert {c.status.value for c in second.charges} == {"succeeded"}
    receipts = db.session.scalars(
        select(OutgoingEmail).where(OutgoingEmail.ref == second.public_id)
    ).all()
    assert [r.recipients for r in receipts] == ["office@example.org"]
    posting = charge_data(second.charges[0], firm=firm.firm, default_ar_message="Portal payment")
    assert posting["ar_message"] == "Portal payment - Second call"
    # future consent covers it: no further consent was recorded
    assert len(db.session.scalars(select(Consent)).all()) == 1


def test_a_method_kept_for_this_payment_needs_the_payers_word_by_phone(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(staffer)
    _save_new_card(console, book, "this_payment")
    method = db.session.scalars(select(SavedMethod)).one()
    assert method.consent is not None and method.consent.scope is ConsentScope.THIS_PAYMENT
    assert method.consent.words == THIS_WORDS.format(firm=firm.firm.name, total="$100.00")
    page = _step4(console, book, {f"invoice-{book.old.id}": "50.00"}, [f"invoice-{book.old.id}"])
    (choice,) = [c for c in _choices(page) if c != "new"]
    form, unasked = _pay(console, page, payer_choice=choice)
    assert unasked.status_code == 422  # type: ignore[attr-defined]
    assert "tick the box once they agree" in unasked.get_data(as_text=True)  # type: ignore[attr-defined]
    assert db.session.scalars(select(Payment)).all().__len__() == 1
    answer = console.post(f"{MP}/pay", {**form, "phone_consent": "yes"}, form_page=f"{MP}/allocate")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    db.session.expire_all()
    latest = db.session.scalars(select(Consent).order_by(Consent.id.desc())).first()
    assert latest is not None and latest.saved_method_id == method.id
    assert latest.words == PHONE_WORDS.format(firm=firm.firm.name, total="$50.00")
    assert (latest.scope, latest.how, latest.staff_user_id) == (
        ConsentScope.THIS_PAYMENT,
        ConsentHow.STAFF_PHONE,
        staffer.user.id,
    )
    # the API never charges on such consent: the payer is not there to give it
    api = console.client.post(
        "/api/v1/payments",
        json={
            "client": "C-1",
            "payer": method.payer.public_id,
            "payment_method": method.public_id,
            "lines": [{"invoice": "INV-OLD", "amount": 1_000}],
        },
        headers={"Authorization": f"Bearer {firm.key}", "Idempotency-Key": "k-1"},
        base_url="https://localhost",
    )
    assert api.status_code == 422
    assert api.get_json()["type"] == "/problems/consent-missing"


def test_a_card_kept_by_staff_and_declined_is_forgotten_by_the_system(
    console: Console, staffer: Person, book: Book
) -> None:
    # given
    console.sign_in_as(staffer)
    page = _step4(console, book, {f"invoice-{book.old.id}": "100.00"}, [f"invoice-{book.old.id}"])

    # when "Save payer" with a card the bank declines
    _, answer = _pay(
        console,
        page,
        **{**CARD, "card_number": "4000 0000 0000 0002", "payer_name": "Ada Parent"},
        payer_email="ada.parent@example.com",
        save_payer="yes",
        consent_scope="future_firm_initiated",
    )

    # then the payment failed, the card is not kept, and the log says who removed it and why
    assert answer.status_code == 303, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    (payment,) = db.session.scalars(select(Payment)).all()
    assert {c.status.value for c in payment.charges} == {"failed"}
    (method,) = db.session.scalars(select(SavedMethod)).all()
    assert method.removed_at is not None
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "saved_method.removed")
    ).all()
    assert (event.actor_kind, event.actor_id, event.entity_id) == ("system", None, method.public_id)
    assert event.reason == "declined on its first payment"


def test_another_clients_or_firms_payer_or_method_is_refused(
    console: Console,
    staffer: Person,
    book: Book,
    firm: factories.FirmWithKey,
    other_firm: factories.FirmWithKey,
) -> None:
    ours = saved_for(book.client)
    theirs = saved_for(factories.client(firm, name="Bea Other"))
    elsewhere = saved_for(factories.client(other_firm, name="Cy Elsewhere"))
    console.sign_in_as(staffer)
    page = _step4(console, book, {f"invoice-{book.old.id}": "50.00"}, [f"invoice-{book.old.id}"])
    assert _choices(page) == [f"{ours.payer.public_id}:{ours.public_id}", "new"]
    for payer, method in (
        (theirs.payer, theirs),
        (elsewhere.payer, elsewhere),
        (ours.payer, theirs),  # our payer with another client's method
        (theirs.payer, ours),
    ):
        _, answer = _pay(console, page, payer_choice=f"{payer.public_id}:{method.public_id}")
        assert answer.status_code == 404  # type: ignore[attr-defined]
        assert "cannot pay for this client" in answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert not db.session.scalars(select(Payment)).all()


def test_an_expired_card_is_not_offered_or_charged(
    console: Console, staffer: Person, book: Book
) -> None:
    old = saved_for(book.client)
    old.exp_year, old.exp_month = 2020, 1
    db.session.commit()
    console.sign_in_as(staffer)
    page = _step4(console, book, {f"invoice-{book.old.id}": "50.00"}, [f"invoice-{book.old.id}"])
    assert _choices(page) == ["new"]
    assert "expired 01/2020" in page
    _, answer = _pay(console, page, payer_choice=f"{old.payer.public_id}:{old.public_id}")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "This card has expired" in answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert not db.session.scalars(select(Payment)).all()
    assert payers.is_expiring(old, old.created_at.date())


def test_send_for_payment_sent_twice_sends_one_link(
    console: Console, staffer: Person, book: Book
) -> None:
    console.sign_in_as(staffer)
    page = _step4(console, book, {f"invoice-{book.old.id}": "250.00"}, [f"invoice-{book.old.id}"])
    form = _carried(page, "send-form")
    form.pop("csrf_token")
    first = console.post(f"{MP}/send", form, form_page=f"{MP}/allocate")
    assert first.status_code == 200, first.get_data(as_text=True)
    again = console.post(f"{MP}/send", form, form_page=f"{MP}/allocate")  # a reload
    assert again.status_code == 200, again.get_data(as_text=True)
    (link,) = db.session.scalars(select(Link).where(Link.lines.any())).all()
    assert len(link.deliveries) == 1
    assert link.creation_token is not None and form["send_nonce"] in link.creation_token
    # a fresh form is a new link
    page = _step4(console, book, {f"invoice-{book.old.id}": "250.00"}, [f"invoice-{book.old.id}"])
    fresh = _carried(page, "send-form")
    fresh.pop("csrf_token")
    assert fresh["send_nonce"] != form["send_nonce"]
    assert console.post(f"{MP}/send", fresh, form_page=f"{MP}/allocate").status_code == 200
    assert len(db.session.scalars(select(Link).where(Link.lines.any())).all()) == 2
