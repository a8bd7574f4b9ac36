"""Receipt addresses staff type in Make a payment have their own storage
(`Payment.receipt_emails`): each gets the receipt, while the payment's `payer_email` stays one
address (the payer's own, or None), so postings' `payer.email`, the Payment Manager's CSV and the
reconciliation CSV never carry a comma-joined list."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from portal.db import db
from portal.mail.models import OutgoingEmail
from portal.payments.models import Payment
from portal.payments.postings import charge_data
from portal.postings.models import OutboundMessage
from tests import factories
from tests.console.conftest import Console, Person
from tests.console.test_make_payment import CARD, MP, _carried, _preview, _search, _tick, book
from tests.payments.conftest import Book

__all__ = ["book"]  # the fixture, shared with the other make-payment tests

RECEIPTS = "ada@example.com, office@example.org, bookkeeper@example.net"


def _pay(console: Console, book: Book, **fields: str) -> Payment:
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    page = _preview(console, {f"invoice-{book.old.id}": "100.00"})
    form = {**_carried(page, "pay"), **CARD, **fields}
    form.pop("csrf_token")
    answer = console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return db.session.scalars(select(Payment).order_by(Payment.id.desc())).first()  # type: ignore[return-value]


def _emails_in(payloads: list[str]) -> list[object]:
    found = []
    for payload in payloads:
        payer = json.loads(payload)["data"].get("payer")
        if payer is not None:
            found.append(payer["email"])
    return found


def test_several_receipts_each_get_one_and_the_payer_email_stays_one_address(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(staffer)
    payment = _pay(console, book, receipts=RECEIPTS, payer_email="ada.payer@example.com")

    assert payment.payer_email == "ada.payer@example.com"
    assert payment.receipt_emails == [part.strip() for part in RECEIPTS.split(",")]
    sent = db.session.scalars(
        select(OutgoingEmail.recipients).where(OutgoingEmail.ref == payment.public_id)
    ).all()
    assert sorted(sent) == sorted(payment.receipt_emails)  # one each, the payer's not among them

    # the posting's payer: the one address
    posting = charge_data(payment.charges[0], firm=firm.firm, default_ar_message="Portal payment")
    assert posting["payer"]["email"] == "ada.payer@example.com"
    queued = db.session.scalars(
        select(OutboundMessage.payload).where(OutboundMessage.firm_id == firm.id)
    ).all()
    assert _emails_in(list(queued)) and set(_emails_in(list(queued))) == {"ada.payer@example.com"}

    # the Payment Manager's CSV: one address in payer_email, no receipt address anywhere
    rows = list(csv.DictReader(io.StringIO(console.get("/console/payments.csv").text)))
    assert [row["payer_email"] for row in rows] == ["ada.payer@example.com"]
    # the reconciliation CSV carries no address at all, joined or not
    reconciliation = console.get("/console/reports/reconciliation.csv").text
    assert payment.public_id in reconciliation
    assert "@" not in reconciliation

    # "Resend the receipt" goes to every receipt address again, and says so
    path = f"/console/payments/{payment.public_id}"
    assert "office@example.org" in console.get(path).text
    again = console.post(f"{path}/receipt", {}, form_page=path)
    assert again.status_code == 303
    sent = db.session.scalars(
        select(OutgoingEmail.recipients).where(OutgoingEmail.ref == payment.public_id)
    ).all()
    assert sorted(sent) == sorted(payment.receipt_emails * 2)
    assert f"The receipt is on its way to {RECEIPTS}." in console.get(path).text


def test_receipts_for_someone_else_leave_the_payer_email_empty(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(staffer)
    payment = _pay(console, book, receipts="sam@okafor.example, office@example.org")

    assert payment.payer_email is None  # the typed addresses may be anybody's (staff's own)
    assert payment.receipt_emails == ["sam@okafor.example", "office@example.org"]
    posting = charge_data(payment.charges[0], firm=firm.firm, default_ar_message="Portal payment")
    assert posting["payer"]["email"] is None
    rows = list(csv.DictReader(io.StringIO(console.get("/console/payments.csv").text)))
    assert [row["payer_email"] for row in rows] == [""]
    sent = db.session.scalars(
        select(OutgoingEmail.recipients).where(OutgoingEmail.ref == payment.public_id)
    ).all()
    assert sorted(sent) == ["office@example.org", "sam@okafor.example"]
