"""Receipt emails through a real SMTP server on loopback: content, language, timing."""

from __future__ import annotations

import datetime as dt
from email.header import decode_header, make_header

from portal.money import format_money
from portal.payments.models import PaymentMethod
from portal.payments.receipts import receipt_for
from portal.templating import zoned_datetime
from tests.mailbox import parts
from tests.payments.conftest import ACH_CLOSED, ACH_OK, DECLINED, Book, pay, settle_ach


def test_card_receipt_lists_each_allocation_and_destination(session, book: Book, smtp) -> None:
    payment = pay(book, invoices={book.old.id: 120_000}, trust={book.matter.id: 50_000})
    (message,) = smtp.messages
    text, html = parts(message)
    assert message["To"] == "ada@example.com"
    assert f"Receipt {payment.number} for your payment" in message["Subject"]
    for body in (text, html):
        assert payment.number in body
        assert payment.public_id not in body
        assert "INV-OLD" in body and "$1,200.00" in body
        assert "Operating account" in body and "Trust account (IOLTA)" in body
        assert "$500.00" in body and "$1,700.00" in body
        assert "Visa •••• 4242" in body
        assert "4242424242424242" not in body and "4242 4242" not in body


def test_declined_payment_sends_no_receipt(session, book: Book, smtp) -> None:
    pay(book, invoices={book.old.id: 120_000}, instrument=DECLINED)
    assert smtp.messages == []


def test_ach_receipt_says_processing_then_a_second_email_on_settlement(
    session, book: Book, smtp
) -> None:
    payment = pay(
        book,
        invoices={book.new.id: 80_000},
        trust={book.matter.id: 10_000},
        method=PaymentMethod.ACH,
        instrument=ACH_OK,
    )
    assert len(smtp.messages) == 1
    assert "processing" in smtp.messages[0]["Subject"]
    for charge in payment.charges:
        settle_ach(charge.merchant_account_id)
    # one email when the whole payment has settled, not one per charge
    assert len(smtp.messages) == 2
    assert "went through" in smtp.messages[1]["Subject"]
    assert "Test bank •••• 6789" in parts(smtp.messages[1])[0]


def test_ach_failure_email(session, book: Book, smtp) -> None:
    payment = pay(
        book, invoices={book.new.id: 80_000}, method=PaymentMethod.ACH, instrument=ACH_CLOSED
    )
    (charge,) = payment.charges
    settle_ach(charge.merchant_account_id)
    assert "did not go through" in smtp.messages[-1]["Subject"]
    assert "The bank account is closed." in parts(smtp.messages[-1])[0]


def test_receipt_is_in_the_clients_language(session, book: Book, smtp) -> None:
    book.client.locale = "es_US"
    payment = pay(book, invoices={book.old.id: 120_000})
    (message,) = smtp.messages
    text, html = parts(message)
    assert message["Subject"].startswith(f"Recibo {payment.number} de su pago a ")
    when = zoned_datetime(payment.created_at, dt.UTC, "es_US")
    for body in (text, html):
        assert "Gracias por su pago." in body
        assert "Factura INV-OLD" in body
        assert "(Pagado)" in body
        assert "Receipt" not in body and "Thank you" not in body
        assert format_money(120_000, "USD", "es_US") in body
    assert f"Fecha: {when}" in text
    assert '<html lang="es-US">' in html


def test_an_ach_failure_email_in_spanish_says_why_in_spanish(session, book: Book, smtp) -> None:
    book.client.locale = "es-MX"  # no es_MX catalog: Spanish all the same
    payment = pay(
        book, invoices={book.new.id: 80_000}, method=PaymentMethod.ACH, instrument=ACH_CLOSED
    )
    (charge,) = payment.charges
    settle_ach(charge.merchant_account_id)
    failed = smtp.messages[-1]
    subject = str(make_header(decode_header(failed["Subject"])))
    assert subject.startswith("Su pago a ")
    assert subject.endswith(" no se realizó")
    text, html = parts(failed)
    for body in (text, html):
        assert "La cuenta bancaria está cerrada." in body  # the processor said it in English
        assert "(Rechazado)" in body


def test_nothing_is_sent_when_the_transaction_rolls_back(session, book: Book, smtp) -> None:
    from portal.mail import compose, send_after_commit

    send_after_commit(compose(to="x@example.com", subject="never", text="never"))
    session.rollback()
    session.commit()
    assert smtp.messages == []


def test_without_a_mail_server_messages_go_to_the_outbox(session, book: Book, app, tmp_path):
    app.instance_path = str(tmp_path)
    pay(book, invoices={book.old.id: 120_000})
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert b"for your payment" in eml.read_bytes()


def test_receipt_data_shows_brand_and_last_four_only(session, book: Book) -> None:
    receipt = receipt_for(pay(book, invoices={book.old.id: 120_000}))
    assert receipt.instrument == "Visa •••• 4242"
    assert receipt.status == "succeeded" and receipt.paid_minor == 120_000
