"""A refund above the firm's `refund_reauth_above_minor` asks for the password again on its
confirmation page (unless it was typed in the last five minutes); one at or below it does not;
a confirmation sent without the password, or with a wrong one, refunds nothing."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from portal.audit.services import Actor
from portal.firms.settings import update_firm_settings
from portal.payments.models import Payment
from tests import factories
from tests.api.payment_books import make_book
from tests.clocks import Clock
from tests.console.conftest import BASE_URL, PASSWORD, Console, Person
from tests.console.test_payments import _confirm_page_form, _from, _refunds
from tests.payments.conftest import Book, pay


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey, admin: Person) -> Book:
    return make_book(firm)


@pytest.fixture
def payment(book: Book, firm: factories.FirmWithKey) -> Payment:
    """$10.00 to an invoice and $20.00 into trust; refunds above $15.00 ask for the password."""
    update_firm_settings(firm.id, {"refund_reauth_above_minor": 1_500}, Actor("cli"))
    return pay(book, invoices={book.new.id: 1_000}, trust={book.matter.id: 2_000})


def _trust_line(payment: Payment) -> int:
    return next(
        line.id
        for charge in payment.charges
        for line in charge.allocations
        if line.invoice_id is None
    )


def _review(console: Console, payment: Payment, data: dict[str, str]) -> str:
    path = f"/console/payments/{payment.public_id}"
    review = console.post(f"{path}/refund", data, form_page=path)
    assert review.status_code == 200, review.get_data(as_text=True)
    return review.get_data(as_text=True)


def _confirm(console: Console, payment: Payment, form: dict[str, str]) -> tuple[int, str]:
    path = f"/console/payments/{payment.public_id}"
    done = console.client.post(
        f"{path}/refund/confirm", data=form, base_url=BASE_URL, headers=_from(path)
    )
    return done.status_code, done.get_data(as_text=True)


def test_a_refund_above_the_threshold_asks_for_the_password(
    console: Console,
    admin: Person,
    payment: Payment,
    session: Session,
    frozen_clock: Clock,
) -> None:
    # given an admin who signed in more than five minutes ago
    console.sign_in_as(admin)
    frozen_clock.advance(minutes=6)
    # when they review a $30.00 refund
    page = _review(console, payment, {"whole": "1"})
    # then the confirmation asks for the password
    assert 'id="refund-password-needed"' in page
    assert "more than $15.00" in page
    assert 'type="password"' in page
    form = _confirm_page_form(page)
    # sent without it: nothing is refunded, the error is by the field, the amounts are kept
    status, again = _confirm(console, payment, form)
    assert status == 422
    assert 'id="password-error">Enter your password to refund this much.</p>' in again
    assert 'id="total-trust">$20.00<' in again
    assert _refunds(session, payment) == []
    # a wrong one: nothing either
    status, again = _confirm(console, payment, {**form, "password": "not my password"})
    assert status == 401
    assert 'id="password-error">The password is wrong.</p>' in again
    assert _refunds(session, payment) == []
    # the right one: refunded
    status, _ = _confirm(console, payment, {**_confirm_page_form(again), "password": PASSWORD})
    assert status == 303
    assert sorted(amount for _, amount in _refunds(session, payment)) == [1_000, 2_000]


def test_a_refund_at_or_below_the_threshold_does_not_ask(
    console: Console, admin: Person, payment: Payment, session: Session, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    frozen_clock.advance(minutes=6)
    page = _review(console, payment, {f"amount-{_trust_line(payment)}": "15.00"})
    assert 'type="password"' not in page
    status, _ = _confirm(console, payment, _confirm_page_form(page))
    assert status == 303
    assert _refunds(session, payment) == [(_trust_line(payment), 1_500)]


def test_a_password_typed_in_the_last_five_minutes_is_enough(
    console: Console, admin: Person, payment: Payment, session: Session
) -> None:
    console.sign_in_as(admin)  # just now
    page = _review(console, payment, {"whole": "1"})
    assert 'type="password"' not in page
    status, _ = _confirm(console, payment, _confirm_page_form(page))
    assert status == 303
    assert len(_refunds(session, payment)) == 2


def test_without_a_threshold_nobody_is_asked(
    console: Console,
    admin: Person,
    book: Book,
    firm: factories.FirmWithKey,
    session: Session,
    frozen_clock: Clock,
) -> None:
    big = pay(book, trust={book.matter.id: 900_000})
    console.sign_in_as(admin)
    frozen_clock.advance(minutes=6)
    page = _review(console, big, {"whole": "1"})
    assert 'type="password"' not in page
    assert _confirm(console, big, _confirm_page_form(page))[0] == 303
