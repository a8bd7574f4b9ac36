"""Make a payment in the console, through the Flask test client: criteria, two searches into
one selection, auto-apply in the firm's order, manual card entry (one charge per merchant
account, receipts only to typed addresses, the custom A/R message, source staff + staff user,
double submit = one payment), send for payment, and another firm's lines never shown or paid."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import g
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal import clock
from portal.db import db
from portal.firms.models import AutoApplyOrder
from portal.links import services as links
from portal.links.models import DeliveryOrigin, Link
from portal.mail.models import OutgoingEmail
from portal.payments.models import Payment, PaymentSource
from portal.payments.postings import charge_data
from tests import factories
from tests.api.payment_books import make_book
from tests.clocks import Clock
from tests.console.conftest import Console, Person
from tests.payments.conftest import Book
from tests.payments.test_views import VISA, Browser

MP = "/console/make-payment"
CARD = {
    "payer_name": "Ada Client",
    "method": "card",
    "card_number": "4242 4242 4242 4242",
    "card_expiry": "12/40",
    "card_cvc": "123",
    "card_name": "Ada Client",
}


@pytest.fixture
def book(firm: factories.FirmWithKey, frozen_clock: Clock) -> Book:
    return make_book(firm)


def _search(console: Console, **criteria: str) -> str:
    answer = console.post(f"{MP}/search", criteria, form_page=f"{MP}?edit=1")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return console.get(f"{MP}/results").get_data(as_text=True)


def _tick(console: Console, page: str, lines: list[str], go: str = "keep") -> str:
    shown = re.findall(r'name="shown" value="([^"]+)"', page)
    data = [("shown", s) for s in shown] + [("line", line) for line in lines]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    answer = console.client.post(
        f"{MP}/select",
        data=MultiDict([("csrf_token", token.group(1)), ("view", "search"), ("go", go), *data]),
        base_url="https://localhost",
        headers={"Referer": f"https://localhost{MP}/results"},
    )
    assert answer.status_code == 303
    return answer.headers["Location"]


def _selected(console: Console) -> str:
    return console.get(f"{MP}/results?view=selected").get_data(as_text=True)


def _preview(console: Console, amounts: dict[str, str]) -> str:
    answer = console.post(f"{MP}/allocate", amounts)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def _carried(page: str, form_id: str) -> dict[str, str]:
    form = page.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_two_searches_gather_into_one_selection_and_criteria_keep_ticks(
    console: Console, staffer: Person, book: Book
) -> None:
    console.sign_in_as(staffer)
    first = _search(console, invoice="INV-OLD")
    assert "INV-OLD" in first and "INV-NEW" not in first
    _tick(console, first, [f"invoice-{book.old.id}"])
    # a second search with other criteria: the first tick stays
    second = _search(console, client="C-1")
    assert f'value="invoice-{book.old.id}" id="line-invoice-{book.old.id}" checked' in second
    _tick(console, second, [f"invoice-{book.old.id}", f"matter-{book.matter.id}"])
    third = _search(console, overdue_only="y")
    assert "INV-NEW" not in third
    selected = _selected(console)
    assert "INV-OLD" in selected and book.matter.number in selected and "INV-NEW" not in selected
    assert "Selected (2)" in selected


def test_use_this_every_time_opens_step_two(console: Console, staffer: Person, book: Book) -> None:
    console.sign_in_as(staffer)
    answer = console.post(f"{MP}/search", {"client": "C-1", "every_time": "y"}, form_page=MP)
    assert answer.status_code == 303
    page = console.get(MP).get_data(as_text=True)
    assert 'id="results"' in page and "INV-OLD" in page
    assert 'id="criteria"' in console.get(f"{MP}?edit=1").get_data(as_text=True)


@pytest.mark.parametrize(
    ("order", "paying"),
    [("oldest_due", "INV-OLD"), ("smallest_first", "INV-NEW"), ("oldest_issued", "INV-OLD")],
)
def test_a_total_is_previewed_in_the_firms_order(
    console: Console,
    staffer: Person,
    book: Book,
    firm: factories.FirmWithKey,
    order: str,
    paying: str,
) -> None:
    firm.firm.auto_apply_order = AutoApplyOrder(order)
    book.new.issued_on = clock.today() - dt.timedelta(days=1)
    console.sign_in_as(staffer)
    _tick(
        console,
        _search(console, client="C-1"),
        [f"invoice-{book.old.id}", f"invoice-{book.new.id}"],
    )
    page = _preview(console, {"total": "500.00"})
    carried = _carried(page, "pay")
    invoice = book.old if paying == "INV-OLD" else book.new
    assert carried[f"invoice-{invoice.id}"] == "500.00"
    assert len([k for k in carried if k.startswith("invoice-")]) == 1


def test_over_due_and_unticked_lines_are_refused(
    console: Console, staffer: Person, book: Book
) -> None:
    console.sign_in_as(staffer)
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    over = console.post(f"{MP}/allocate", {f"invoice-{book.old.id}": "1300.00"})
    assert over.status_code == 422
    assert "has $1,200.00 left to pay" in over.get_data(as_text=True)
    # a trust deposit into a matter that was not ticked (say, posing as an invoice's id)
    forged = console.post(
        f"{MP}/allocate", {f"invoice-{book.old.id}": "100.00", f"trust-{book.old.id}": "50.00"}
    )
    carried = _carried(forged.get_data(as_text=True), "pay") if forged.status_code == 200 else {}
    assert f"trust-{book.old.id}" not in carried


def test_another_firms_invoices_are_never_listed_or_paid(
    console: Console, staffer: Person, book: Book, other_firm: factories.FirmWithKey
) -> None:
    theirs = factories.invoice(
        factories.matter(factories.client(other_firm, name="Client 1")), number="INV-OLD-X"
    )
    console.sign_in_as(staffer)
    page = _search(console, invoice="INV-OLD")
    assert "INV-OLD-X" not in page
    _tick(console, page, [f"invoice-{theirs.id}"])
    assert "INV-OLD-X" not in _selected(console)
    answer = console.post(f"{MP}/allocate", {f"invoice-{theirs.id}": "10.00"})
    assert answer.status_code == 422  # nothing selected: the box is not even read
    assert "Nothing is selected" in answer.get_data(as_text=True)
    done = console.get("/console/make-payment/done/not-a-payment")
    assert done.status_code == 404


def test_a_card_taken_by_phone(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(staffer)
    page = _search(console, client="C-1")
    _tick(
        console,
        page,
        [f"invoice-{book.old.id}", f"invoice-{book.new.id}", f"matter-{book.matter.id}"],
    )
    preview = _preview(
        console,
        {
            f"invoice-{book.old.id}": "1200.00",
            f"invoice-{book.new.id}": "300.00",
            f"trust-{book.matter.id}": "500.00",
        },
    )
    assert "$500.00" in preview  # INV-NEW stays owed in part
    carried = _carried(preview, "pay")
    form = {
        **carried,
        **CARD,
        "receipts": "ada@example.com, office@example.org",
        "ar_note": "Phone payment, call ref 7781",
    }
    form.pop("csrf_token")
    first = console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")
    assert first.status_code == 303, first.get_data(as_text=True)
    again = console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")  # a double click
    assert again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    (payment,) = db.session.scalars(select(Payment).where(Payment.firm_id == firm.id)).all()
    assert payment.source is PaymentSource.STAFF
    assert payment.staff_user_id == staffer.user.id
    assert payment.total_minor == 200_000
    assert sorted(c.account_kind.value for c in payment.charges) == ["operating", "trust"]
    assert {c.status.value for c in payment.charges} == {"succeeded"}
    receipts = db.session.scalars(
        select(OutgoingEmail).where(OutgoingEmail.ref == payment.public_id)
    ).all()
    assert sorted(r.recipients for r in receipts) == ["ada@example.com", "office@example.org"]
    posting = charge_data(payment.charges[0], firm=firm.firm, default_ar_message="Portal payment")
    assert posting["ar_message"] == "Portal payment - Phone payment, call ref 7781"
    # the selection is cleared once paid
    assert "Selected (0)" in _selected(console)
    done = console.get(first.headers["Location"].removeprefix("https://localhost"))
    assert "is taken" in done.get_data(as_text=True)


def test_no_receipt_typed_no_receipt_sent(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(staffer)
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    carried = _carried(_preview(console, {f"invoice-{book.old.id}": "100.00"}), "pay")
    carried.pop("csrf_token")
    bad = console.post(
        f"{MP}/pay", {**carried, **CARD, "receipts": "ada@, x"}, form_page=f"{MP}/allocate"
    )
    assert bad.status_code == 422
    assert "is not an email address" in bad.get_data(as_text=True)
    done = console.post(
        f"{MP}/pay", {**carried, **CARD, "receipts": ""}, form_page=f"{MP}/allocate"
    )
    assert done.status_code == 303
    (payment,) = db.session.scalars(select(Payment).where(Payment.firm_id == firm.id)).all()
    assert payment.payer_email is None
    assert not db.session.scalars(
        select(OutgoingEmail).where(OutgoingEmail.ref == payment.public_id)
    ).all()


def test_send_for_payment_emails_a_link_carrying_the_allocation(
    console: Console, staffer: Person, book: Book
) -> None:
    console.sign_in_as(staffer)
    _tick(
        console,
        _search(console, client="C-1"),
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )
    carried = _carried(
        _preview(console, {f"invoice-{book.old.id}": "250.00", f"trust-{book.matter.id}": "500"}),
        "send-form",
    )
    carried.pop("csrf_token")
    answer = console.post(
        f"{MP}/send",
        {**carried, "ar_note_send": "Sent by phone request"},
        form_page=f"{MP}/allocate",
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    link = db.session.scalars(select(Link).where(Link.lines.any())).one()
    assert [(line.invoice_id, line.matter_id, line.amount_minor) for line in link.lines] == [
        (book.old.id, book.matter.id, 25_000),
        (None, book.matter.id, 50_000),
    ]
    assert link.ar_note == "Sent by phone request"
    assert link.expires_at - link.created_at <= dt.timedelta(hours=24)
    (delivery,) = link.deliveries
    assert delivery.origin is DeliveryOrigin.CONSOLE
    assert delivery.recipient == book.client.email


def test_a_bank_debit_by_phone_records_how_it_was_authorized(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(staffer)
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    carried = _carried(_preview(console, {f"invoice-{book.old.id}": "1200.00"}), "pay")
    carried.pop("csrf_token")
    bank = {
        **carried,
        "payer_name": "Ada Client",
        "method": "ach",
        "account_holder": "Ada Client",
        "routing_number": "110000000",
        "account_number": "000123456789",
        "account_type": "checking",
    }
    unsaid = console.post(f"{MP}/pay", bank, form_page=f"{MP}/allocate")
    assert unsaid.status_code == 422
    assert "recorded call or in writing" in unsaid.get_data(as_text=True)
    done = console.post(
        f"{MP}/pay", {**bank, "authorised_by": "recorded_call"}, form_page=f"{MP}/allocate"
    )
    assert done.status_code == 303, done.get_data(as_text=True)
    (payment,) = db.session.scalars(select(Payment).where(Payment.firm_id == firm.id)).all()
    assert payment.mandate_text is not None
    assert "recorded telephone call" in payment.mandate_text
    assert staffer.email in payment.mandate_text
    assert {c.status.value for c in payment.charges} == {"processing"}


def test_the_client_pays_exactly_what_staff_sent(
    console: Console, staffer: Person, book: Book, client
) -> None:

    console.sign_in_as(staffer)
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    carried = _carried(_preview(console, {f"invoice-{book.old.id}": "250.00"}), "send-form")
    carried.pop("csrf_token")
    assert console.post(f"{MP}/send", carried, form_page=f"{MP}/allocate").status_code == 200
    link = db.session.scalars(select(Link).where(Link.lines.any())).one()
    g.pop("csrf_token", None)  # the tests' app context keeps the console's token on g
    payer = Browser(client)
    payer.client.get(f"/l/{links.token_for(link)}", base_url="https://localhost")
    basket = payer.basket()
    assert basket.values("invoice") == [str(book.old.id)]
    raised = payer.basket().set(f"invoice-{book.old.id}", "300.00").set("method", "card")
    assert raised.submit().status_code == 422
    review = basket.set("method", "card").submit()
    assert review.status_code == 200
    assert payer.form(review, "confirm").fill(VISA).submit().status_code == 303
    paid = db.session.scalars(select(Payment).where(Payment.link_id == link.id)).one()
    assert paid.total_minor == 25_000


def test_typed_card_numbers_never_go_to_a_stripe_account(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    for account in firm.firm.merchant_accounts:
        account.gateway = "stripe"
    console.sign_in_as(staffer)
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    carried = _carried(_preview(console, {f"invoice-{book.old.id}": "100.00"}), "pay")
    carried.pop("csrf_token")
    answer = console.post(f"{MP}/pay", {**carried, **CARD}, form_page=f"{MP}/allocate")
    assert answer.status_code == 422
    assert "not available for this payment" in answer.get_data(as_text=True)
    assert not db.session.scalars(select(Payment).where(Payment.firm_id == firm.id)).all()


def test_one_payment_pays_one_clients_lines(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    someone = factories.client(firm, name="Bea Other")
    theirs = factories.invoice(factories.matter(someone), number="INV-BEA")
    console.sign_in_as(staffer)
    _tick(
        console,
        _search(console, invoice="INV-"),
        [f"invoice-{book.old.id}", f"invoice-{theirs.id}"],
    )
    answer = console.post(
        f"{MP}/allocate", {f"invoice-{book.old.id}": "10.00", f"invoice-{theirs.id}": "10.00"}
    )
    assert answer.status_code == 422
    assert "one client at a time" in answer.get_data(as_text=True)
