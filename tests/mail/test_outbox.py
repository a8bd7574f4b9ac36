"""The email outbox: rows written with what they report, delivered by a worker with retries."""

from __future__ import annotations

import datetime as dt
import re
import smtplib
import threading
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import func, select

from portal import clock, mail
from portal.config import UnsafeConfiguration
from portal.db import db
from portal.mail import delivery as mail_delivery
from portal.mail.models import EmailStatus, OutgoingEmail
from tests.clocks import Clock
from tests.conftest import TEST_SECRET, make_test_app
from tests.mailbox import Inbox, free_port, parts, serve_smtp
from tests.payments.conftest import Book, book, pay

__all__ = ["book"]

START = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moments = Clock(START)
    monkeypatch.setattr(clock, "now", moments)
    return moments


@pytest.fixture
def outbox_only(app: Flask) -> Flask:
    """The app as in production: commits only write rows, the worker sends."""
    app.config["MAIL_DELIVER_AFTER_COMMIT"] = "off"
    return app


def rows() -> list[OutgoingEmail]:
    return list(
        db.session.scalars(
            select(OutgoingEmail)
            .order_by(OutgoingEmail.id)
            .execution_options(populate_existing=True)
        )
    )


def queue_one(to: str = "ada@example.com", **kw: str) -> OutgoingEmail:
    return mail.queue(mail.compose(to=to, subject="Hello", text="Hello there."), **kw)


class Slow(Inbox):
    """An inbox that takes a moment over each message, so that workers overlap."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        import asyncio

        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


class Refusing4xx(Inbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        return "451 4.3.0 Mailbox busy, try again later"


# -- the receipt through an outage ----------------------------------------------------------


def test_a_receipt_waits_out_a_mail_server_outage_and_arrives_once(
    session, book: Book, app: Flask, frozen: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there: the mail server is down
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    payment = pay(book, invoices={book.old.id: 120_000})

    (row,) = rows()
    assert row.kind == "receipt" and row.status is EmailStatus.QUEUED
    assert row.attempts == 1  # the after-commit attempt, refused
    assert row.last_error is not None and "Connection refused" in row.last_error
    assert row.recipients == "ada@example.com"
    assert START < row.next_attempt_at <= START + dt.timedelta(seconds=30)

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()  # the mail server is back
    try:
        assert mail.deliver_due("worker") == 0  # not due yet: backoff
        frozen.advance(minutes=1)
        assert mail.deliver_due("worker") == 1
        assert mail.deliver_due("worker") == 0
        frozen.advance(days=1)
        assert mail.deliver_due("worker") == 0
    finally:
        controller.stop()
    (message,) = inbox.messages
    assert re.match(r"Receipt P-\S+ for your payment", message["Subject"])
    assert payment.number in parts(message)[0]
    (row,) = rows()
    assert row.status is EmailStatus.SENT and row.sent_at == START + dt.timedelta(minutes=1)
    assert row.attempts == 2 and row.claimed_by == "worker" and row.claimed_until is None


def test_in_production_the_request_only_writes_the_row_and_the_worker_sends(
    session, book: Book, outbox_only: Flask, smtp: Inbox, deliver_email
) -> None:
    pay(book, invoices={book.old.id: 120_000})
    assert smtp.messages == []
    (row,) = rows()
    assert row.status is EmailStatus.QUEUED and row.attempts == 0
    assert deliver_email() == 1
    assert len(smtp.messages) == 1
    assert rows()[0].status is EmailStatus.SENT


def test_production_takes_the_worker_and_refuses_sending_in_requests(database_url) -> None:
    production = {"ENV": "production", "SECRET_KEY": TEST_SECRET, "LOG_FORMAT": "json"}
    app = make_test_app(database_url, **production)
    assert not mail.delivers_after_commit(app.config)
    app.extensions["portal.engine"].dispose()
    with pytest.raises(UnsafeConfiguration, match="MAIL_DELIVER_AFTER_COMMIT"):
        make_test_app(database_url, MAIL_DELIVER_AFTER_COMMIT="on", **production)
    assert mail.delivers_after_commit({"ENV": "testing", "MAIL_DELIVER_AFTER_COMMIT": "auto"})
    assert not mail.delivers_after_commit({"ENV": "testing", "MAIL_DELIVER_AFTER_COMMIT": "off"})


# -- never for a rolled-back transaction ------------------------------------------------------


def test_a_rolled_back_transaction_sends_nothing(
    session, app: Flask, smtp: Inbox, deliver_email
) -> None:
    queue_one("never@example.com")
    session.rollback()
    session.commit()
    assert rows() == []
    assert deliver_email() == 0
    assert smtp.messages == []


def test_a_rolled_back_savepoint_takes_only_its_own_email(session, smtp: Inbox) -> None:
    kept = queue_one("kept@example.com")
    savepoint = session.begin_nested()
    queue_one("dropped@example.com")
    savepoint.rollback()
    session.commit()
    assert [m["To"] for m in smtp.messages] == ["kept@example.com"]
    assert [row.id for row in rows()] == [kept.id]


# -- what the server says -------------------------------------------------------------------


def test_a_5xx_fails_at_once_with_the_servers_words(
    session, book: Book, refusing_smtp: Inbox, deliver_email, frozen: Clock
) -> None:
    pay(book, invoices={book.old.id: 120_000})
    (row,) = rows()
    assert row.status is EmailStatus.FAILED and row.attempts == 1
    assert row.failed_at == START
    assert row.last_error == (
        "recipient refused: 550 5.1.1 <nobody@example.com>: mailbox unavailable"
    )
    frozen.advance(days=1)
    assert deliver_email() == 0
    assert refusing_smtp.messages == []


def test_a_4xx_is_retried_with_growing_bounded_waits_then_given_up(
    session, app: Flask, caplog: pytest.LogCaptureFixture, frozen: Clock, deliver_email
) -> None:
    app.config.update(MAIL_MAX_ATTEMPTS=5, MAIL_RETRY_BASE_SECONDS=60, MAIL_RETRY_MAX_SECONDS=180)
    controller = serve_smtp(app, Refusing4xx())
    try:
        queue_one()
        session.commit()  # first attempt right after the commit
        waits = []
        for _ in range(4):
            (row,) = rows()
            assert row.status is EmailStatus.QUEUED
            assert row.last_error == "recipient refused: 451 4.3.0 Mailbox busy, try again later"
            waits.append(row.next_attempt_at - frozen.at)
            frozen.at = row.next_attempt_at
            assert deliver_email() == 1
    finally:
        controller.stop()
    (row,) = rows()
    assert row.status is EmailStatus.FAILED and row.attempts == 5
    assert row.last_error == "recipient refused: 451 4.3.0 Mailbox busy, try again later"
    bounds = [(30, 60), (60, 120), (90, 180), (90, 180)]
    for wait, (low, high) in zip(waits, bounds, strict=True):
        assert dt.timedelta(seconds=low) <= wait <= dt.timedelta(seconds=high)


def test_backoff_stays_within_its_cap_however_many_attempts(app: Flask) -> None:
    for attempts in (1, 2, 10, 64, 10_000):
        wait = mail_delivery.backoff(attempts)
        assert dt.timedelta(0) < wait <= dt.timedelta(seconds=3600)
    assert mail_delivery.backoff(10_000) >= dt.timedelta(seconds=1800)


def test_the_mail_server_down_counts_as_a_retry_not_a_failure() -> None:
    assert not mail_delivery.is_permanent(ConnectionRefusedError(111, "Connection refused"))
    assert not mail_delivery.is_permanent(smtplib.SMTPServerDisconnected("gone"))
    assert not mail_delivery.is_permanent(smtplib.SMTPAuthenticationError(535, b"bad login"))
    assert mail_delivery.is_permanent(smtplib.SMTPDataError(554, b"spam"))
    assert not mail_delivery.is_permanent(smtplib.SMTPDataError(452, b"full"))
    assert mail_delivery.is_permanent(UnicodeEncodeError("ascii", "é", 0, 1, "no"))


def test_one_unsendable_message_fails_alone_and_the_batch_goes_on(
    session, outbox_only: Flask, smtp: Inbox, deliver_email
) -> None:
    first = queue_one("first@example.com")
    poisoned = queue_one("zoë@exämple.com")  # smtplib cannot send a non-ASCII address here
    last = queue_one("last@example.com")
    session.commit()
    assert deliver_email() == 3
    by_id = {row.id: row for row in rows()}
    assert by_id[first.id].status is EmailStatus.SENT
    assert by_id[last.id].status is EmailStatus.SENT
    assert by_id[poisoned.id].status is EmailStatus.FAILED
    assert sorted(m["To"] for m in smtp.messages) == ["first@example.com", "last@example.com"]


# -- leases and concurrency -----------------------------------------------------------------


def test_a_dead_workers_rows_come_back_when_its_lease_runs_out(
    session, outbox_only: Flask, smtp: Inbox, frozen: Clock
) -> None:
    row = queue_one()
    session.commit()
    (job,) = mail_delivery.claim("dead-worker", 10)  # ...and the worker dies before sending
    assert job.email_id == row.id
    assert mail.deliver_due("alive") == 0  # the lease still holds
    assert smtp.messages == []
    frozen.at = job.claimed_until
    assert mail.deliver_due("alive") == 1
    assert len(smtp.messages) == 1
    # Had the dead worker come back and sent it, its record would not overwrite the outcome.
    mail_delivery.record([mail_delivery.Sent(job, "late")], "dead-worker")
    (row,) = rows()
    assert row.status is EmailStatus.SENT and row.last_error is None and row.attempts == 2


def test_a_worker_asked_to_stop_gives_back_what_it_did_not_send(
    session, outbox_only: Flask, smtp: Inbox
) -> None:
    for n in range(3):
        queue_one(f"c{n}@example.com")
    session.commit()
    asked = iter([False, False, True])
    assert mail.deliver_due("worker", should_stop=lambda: next(asked, True)) == 1
    assert [row.status for row in rows()].count(EmailStatus.QUEUED) == 2
    assert all(row.claimed_until is None for row in rows())
    assert mail.deliver_due("worker") == 2
    assert len(smtp.messages) == 3
    assert [row.attempts for row in rows()] == [1, 1, 1]


@pytest.fixture
def committed_outbox(committed_url: str) -> Iterator[Flask]:
    from tests.conftest import empty_all_tables, make_engine

    engine = make_engine(committed_url)
    with engine.begin() as connection:
        empty_all_tables(connection)
    engine.dispose()
    app = make_test_app(committed_url, MAIL_DELIVER_AFTER_COMMIT="off", MAIL_BATCH_SIZE=3)
    yield app
    app.extensions["portal.engine"].dispose()


def test_workers_racing_never_send_one_email_twice(committed_outbox: Flask) -> None:
    inbox = Slow()
    app = committed_outbox
    with app.app_context():
        controller = serve_smtp(app, inbox)
    try:
        with app.app_context():
            for n in range(40):
                queue_one(f"client{n}@example.com")
            db.session.commit()
        start = threading.Barrier(4)
        counts: list[int] = []
        errors: list[BaseException] = []

        def work(name: str) -> None:
            try:
                with app.app_context():
                    start.wait()
                    counts.append(mail.deliver_due(name))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        controller.stop()
    assert errors == []
    assert sum(counts) == 40
    sent_to = sorted(m["To"] for m in inbox.messages)
    assert sent_to == sorted(f"client{n}@example.com" for n in range(40))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutgoingEmail)) == 40
        statuses = set(db.session.scalars(select(OutgoingEmail.status)))
        attempts = set(db.session.scalars(select(OutgoingEmail.attempts)))
    assert statuses == {EmailStatus.SENT} and attempts == {1}


# -- outcomes, status reads, purging, the commands --------------------------------------------


def test_outcome_handlers_hear_of_sent_and_failed_email_by_reference(
    session, app: Flask, refusing_smtp: Inbox
) -> None:
    heard: list[mail.Outcome] = []
    mail.on_outcome("test-kind", heard.append)
    try:
        queue_one(kind="test-kind", ref="dl_123")
        session.commit()
    finally:
        mail.on_outcome("test-kind", None)
    (outcome,) = heard
    assert outcome.ref == "dl_123" and outcome.status is EmailStatus.FAILED
    assert outcome.error is not None and outcome.error.startswith("recipient refused: 550")
    latest = mail.latest_for("test-kind", "dl_123")
    assert latest is not None and latest.status is EmailStatus.FAILED


def test_a_failing_outcome_handler_does_not_undo_the_record(
    session, app: Flask, smtp: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_outcome: mail.Outcome) -> None:
        raise RuntimeError("handler bug")

    mail.on_outcome("broken", broken)
    try:
        queue_one(kind="broken", ref="x")
        session.commit()
    finally:
        mail.on_outcome("broken", None)
    assert len(smtp.messages) == 1
    assert rows()[0].status is EmailStatus.SENT
    assert "outcome handler for email" in caplog.text


def test_sent_and_failed_email_is_purged_after_the_retention_period(
    session, outbox_only: Flask, smtp: Inbox, frozen: Clock
) -> None:
    sent = queue_one("sent@example.com")
    waiting = queue_one("waiting@example.com")
    session.commit()
    mail_delivery.deliver_due("worker", ids=[sent.id])
    frozen.advance(days=29)
    assert mail.purge_finished() == 0
    frozen.advance(days=2)
    assert mail.purge_finished() == 1
    assert [row.id for row in rows()] == [waiting.id]


def test_the_commands_deliver_email(session, outbox_only: Flask, smtp: Inbox) -> None:
    runner = outbox_only.test_cli_runner()
    queue_one("one@example.com")
    session.commit()
    result = runner.invoke(args=["deliver-email", "--once"])
    assert result.exit_code == 0, result.output
    assert "Made 1 email attempt(s)." in result.output
    queue_one("two@example.com")
    session.commit()
    result = runner.invoke(args=["deliver-webhooks", "--once"])
    assert result.exit_code == 0, result.output
    assert sorted(m["To"] for m in smtp.messages) == ["one@example.com", "two@example.com"]


def test_bcc_goes_in_the_envelope_only(session, outbox_only: Flask, smtp: Inbox) -> None:
    message = mail.compose(to="ada@example.com", subject="Hi", text="Hi.")
    message["Bcc"] = "audit@example.com"
    row = mail.queue(message, kind="receipt")
    session.commit()
    assert row.recipients.split("\n") == ["ada@example.com", "audit@example.com"]
    assert b"audit@example.com" not in row.message
    mail.deliver_due("worker")
    assert len(smtp.messages) == 1 and smtp.messages[0]["Bcc"] is None


def test_without_a_mail_server_the_worker_writes_eml_files(
    session, outbox_only: Flask, tmp_path, deliver_email
) -> None:
    outbox_only.instance_path = str(tmp_path)
    outbox_only.config["MAIL_SERVER"] = ""
    queue_one()
    session.commit()
    assert deliver_email() == 1
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert b"Subject: Hello" in eml.read_bytes()
    assert rows()[0].status is EmailStatus.SENT
