"""Delivering the email outbox: the way out (SMTP, or a folder in development), and the
worker's claim, send and record steps (see portal.mail for the whole story).

One batch is claimed under a lease in one short transaction and committed, sent with no
transaction open, and recorded in one more: a slow mail server never holds a transaction,
and a worker that dies leaves rows that come back when their lease runs out.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import secrets
import smtplib
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from portal import clock
from portal.db import db
from portal.mail.models import MAX_ERROR_LENGTH, EmailStatus, OutgoingEmail

log = logging.getLogger(__name__)

#: Time for the claim's bookkeeping around the sends themselves.
LEASE_MARGIN = dt.timedelta(seconds=30)
#: A batch's lease is one send's plus this window: sends start only while one still fits.
BATCH_WINDOW = dt.timedelta(seconds=60)
#: Socket operations one send may need (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA).
_OPERATIONS_PER_SEND = 6


# -- outcome handlers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one email for good: sent, or failed with the server's answer."""

    email_id: int
    kind: str
    ref: str | None
    status: EmailStatus
    #: The server's answer (failed), or recipients it refused while taking the others (sent).
    error: str | None
    at: dt.datetime


_HANDLERS: dict[str, Callable[[Outcome], None]] = {}


def on_outcome(kind: str, handler: Callable[[Outcome], None] | None) -> None:
    """Call `handler` when an email of `kind` is sent or fails for good (None removes it).

    The handler runs inside the transaction that records the outcome (in a savepoint: if
    it raises, its changes are rolled back and logged, and the email's status still is
    recorded). It must not commit.
    """
    if handler is None:
        _HANDLERS.pop(kind, None)
    else:
        _HANDLERS[kind] = handler


# -- talking to the mail server ---------------------------------------------------------------


class Transport(Protocol):
    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> dict[str, Any]:
        """Hand one message over; returns the recipients refused while others were taken."""

    def close(self) -> None: ...


class SMTPTransport:
    """One SMTP connection, opened on first use and kept for the batch; dropped on any error."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.host = str(config["MAIL_SERVER"])
        self.port = int(config["MAIL_PORT"])
        self.timeout = float(config["MAIL_TIMEOUT_SECONDS"])
        self.use_tls = bool(config["MAIL_USE_TLS"])
        self.username = str(config["MAIL_USERNAME"] or "")
        self.password = str(config["MAIL_PASSWORD"] or "")
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.use_tls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> dict[str, Any]:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            return dict(self._smtp.sendmail(sender, list(recipients), data))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class FolderTransport:
    """Development: write each message to a folder as an .eml file instead of sending it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> dict[str, Any]:
        self.folder.mkdir(parents=True, exist_ok=True)
        message_id = BytesHeaderParser(policy=policy.default).parsebytes(data)["Message-ID"]
        name = str(message_id or "").strip().strip("<>").replace("@", "_").replace("/", "_")
        name = name or secrets.token_hex(12)
        (self.folder / f"{name}.eml").write_bytes(data)
        return {}

    def close(self) -> None:
        pass


def transport() -> Transport:
    """The configured way out: SMTP, or instance/outbox when no MAIL_SERVER is set."""
    config = current_app.config
    if not config["MAIL_SERVER"]:
        return FolderTransport(Path(current_app.instance_path) / "outbox")
    return SMTPTransport(dict(config))


def sender_address() -> str:
    return parseaddr(str(current_app.config["MAIL_FROM"]))[1]


def error_text(exc: BaseException) -> str:
    """What went wrong, in the mail server's own words where it gave some (no secrets)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = [f"{code} {_text(reply)}" for code, reply in list(exc.recipients.values())[:3]]
        return "recipient refused: " + "; ".join(replies)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying cannot help: a 5xx answer about this message, or a message that cannot
    be sent at all (a header or address smtplib cannot encode).

    5xx answers at connect, HELO, STARTTLS or login are the server's or the configuration's
    trouble, not the message's, and are retried like 4xx answers and connection errors.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in exc.recipients.values()]
        return bool(codes) and all(500 <= int(code) < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return 500 <= int(exc.smtp_code) < 600
    return not isinstance(exc, OSError | smtplib.SMTPException)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


# -- the worker's side: claim, send, record ---------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One email to send, copied out of the database so no transaction stays open."""

    email_id: int
    attempt: int
    recipients: tuple[str, ...]
    data: bytes
    claimed_until: dt.datetime


@dataclass(frozen=True)
class Sent:
    """One attempt made: the job, and the error (None when the server took it)."""

    job: Job
    error: str | None = None
    permanent: bool = False
    delivered: bool = True


def _setting(name: str) -> int:
    return int(current_app.config[name])


def send_lease() -> dt.timedelta:
    """How long one send may take: every socket operation at its timeout, plus a margin."""
    return _OPERATIONS_PER_SEND * dt.timedelta(seconds=_setting("MAIL_TIMEOUT_SECONDS")) + (
        LEASE_MARGIN
    )


def backoff(attempts: int) -> dt.timedelta:
    """Wait before attempt `attempts + 1`: doubling from MAIL_RETRY_BASE_SECONDS, at most
    MAIL_RETRY_MAX_SECONDS, with jitter (between half and all of it) so that mail held back
    by an outage does not all come back at one instant."""
    base = max(1, _setting("MAIL_RETRY_BASE_SECONDS"))
    cap = max(base, _setting("MAIL_RETRY_MAX_SECONDS"))
    delay = min(cap, base * 2 ** min(max(attempts - 1, 0), 30))
    return dt.timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))  # noqa: S311


def claim(worker_id: str, size: int, *, ids: Sequence[int] | None = None) -> list[Job]:
    """Claim up to `size` due emails (of `ids` only, when given) under one lease. Commits.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets workers pass each other's rows. SQLite: the
    transaction begins IMMEDIATE (portal.db), so claims are serialised. A row whose lease has
    run out (its worker died) is due again.
    """
    now = clock.now()
    query = (
        select(
            OutgoingEmail.id,
            OutgoingEmail.attempts,
            OutgoingEmail.recipients,
            OutgoingEmail.message,
        )
        .where(
            OutgoingEmail.status == EmailStatus.QUEUED,
            OutgoingEmail.next_attempt_at <= now,
            or_(OutgoingEmail.claimed_until.is_(None), OutgoingEmail.claimed_until <= now),
        )
        .order_by(OutgoingEmail.next_attempt_at, OutgoingEmail.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        query = query.where(OutgoingEmail.id.in_(list(ids)))
    rows = db.session.execute(query).all()
    if not rows:
        db.session.commit()
        return []
    until = now + send_lease() + BATCH_WINDOW
    db.session.execute(
        update(OutgoingEmail)
        .where(OutgoingEmail.id.in_([row.id for row in rows]))
        .values(attempts=OutgoingEmail.attempts + 1, claimed_by=worker_id, claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    for row in rows:
        _sync(row.id, attempts=row.attempts + 1, claimed_by=worker_id, claimed_until=until)
    db.session.commit()
    return [
        Job(
            email_id=row.id,
            attempt=row.attempts + 1,
            recipients=tuple(row.recipients.split("\n")),
            data=row.message,
            claimed_until=until,
        )
        for row in rows
    ]


def _sync(email_id: int, **values: Any) -> None:
    """Copy what a bulk statement wrote onto the row, if this session has it loaded."""
    loaded = db.session.identity_map.get(db.session.identity_key(OutgoingEmail, email_id))
    if loaded is not None:
        for name, value in values.items():
            set_committed_value(loaded, name, value)


def send_jobs(
    jobs: Sequence[Job], way_out: Transport, *, should_stop: Callable[[], bool] | None = None
) -> tuple[list[Sent], list[Job]]:
    """Send claimed jobs (no transaction open); returns the attempts and the jobs left unsent.

    A job is left unsent when the worker is asked to stop or when a whole send no longer
    fits in its lease. No exception from one message stops the others.
    """
    sender = sender_address()
    lease = send_lease()
    done: list[Sent] = []
    for index, job in enumerate(jobs):
        stopping = should_stop is not None and should_stop()
        if stopping or clock.now() + lease > job.claimed_until:
            return done, list(jobs[index:])
        try:
            refused = way_out.send(sender, job.recipients, job.data)
        except Exception as exc:  # any one message's failure is recorded, never raised
            done.append(Sent(job, error_text(exc), permanent=is_permanent(exc), delivered=False))
            continue
        partial = error_text(smtplib.SMTPRecipientsRefused(refused)) if refused else None
        done.append(Sent(job, partial))
    return done, []


def record(sent: Sequence[Sent], worker_id: str, *, unsent: Sequence[Job] = ()) -> None:
    """Record each attempt's answer and give back unsent jobs, in one transaction. Commits.

    Sent: status sent. A permanent refusal, or the last allowed attempt: failed, with the
    server's answer. Otherwise still queued, due again after `backoff`. Outcome handlers run
    here for rows that are done. A row another worker holds now (our lease ran out) is left
    to it.
    """
    ids = [item.job.email_id for item in sent] + [job.email_id for job in unsent]
    if not ids:
        return
    rows = {
        row.id: row
        for row in db.session.scalars(
            select(OutgoingEmail)
            .where(OutgoingEmail.id.in_(ids))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }

    def ours(email_id: int) -> OutgoingEmail | None:
        row = rows.get(email_id)
        if row is None or row.status is not EmailStatus.QUEUED or row.claimed_by != worker_id:
            log.warning("email %s was taken over before its attempt was recorded", email_id)
            return None
        return row

    now = clock.now()
    max_attempts = max(1, _setting("MAIL_MAX_ATTEMPTS"))
    finished: list[OutgoingEmail] = []
    for item in sent:
        row = ours(item.job.email_id)
        if row is None:
            continue
        row.claimed_until = None  # claimed_by stays: the worker that made the last attempt
        row.last_error = item.error[:MAX_ERROR_LENGTH] if item.error else None
        if item.delivered:
            row.status = EmailStatus.SENT
            row.sent_at = now
            finished.append(row)
        elif item.permanent or row.attempts >= max_attempts:
            row.status = EmailStatus.FAILED
            row.failed_at = now
            finished.append(row)
        else:
            row.next_attempt_at = now + backoff(row.attempts)
        log.info(
            "email %s (%s) attempt %s: %s",
            row.id,
            row.kind,
            item.job.attempt,
            row.status.value if row.status is not EmailStatus.QUEUED else item.error,
            extra={"email_id": row.id, "email_status": row.status.value},
        )
    for job in unsent:
        row = ours(job.email_id)
        if row is not None:
            row.claimed_by = None
            row.claimed_until = None
            row.attempts = max(0, row.attempts - 1)  # not attempted after all
    for row in finished:
        _tell(row, now)
    db.session.commit()


def _tell(row: OutgoingEmail, now: dt.datetime) -> None:
    handler = _HANDLERS.get(row.kind)
    if handler is None:
        return
    outcome = Outcome(row.id, row.kind, row.ref, row.status, row.last_error, now)
    try:
        with db.session.begin_nested():
            handler(outcome)
    except Exception:
        log.exception("outcome handler for email %s (%s) failed", row.id, row.kind)


def deliver_due(
    worker_id: str,
    *,
    limit: int | None = None,
    ids: Sequence[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
    way_out: Transport | None = None,
) -> int:
    """Send due emails batch by batch until none is due, `limit` is reached or asked to stop.

    Each batch (MAIL_BATCH_SIZE) is claimed in one transaction, sent with no transaction
    open over one connection, and recorded in another. Returns how many attempts were made.
    `ids` limits it to those rows (the after-commit delivery).
    """
    size = max(1, _setting("MAIL_BATCH_SIZE"))
    own = way_out is None
    way_out = way_out or transport()
    done = 0
    try:
        while limit is None or done < limit:
            if should_stop is not None and should_stop():
                break
            jobs = claim(worker_id, size if limit is None else min(size, limit - done), ids=ids)
            if not jobs:
                break
            sent, unsent = send_jobs(jobs, way_out, should_stop=should_stop)
            record(sent, worker_id, unsent=unsent)
            done += len(sent)
            if not sent:
                break
    finally:
        if own:
            way_out.close()
    return done


def purge_finished() -> int:
    """Delete sent and failed emails older than MAIL_RETENTION_DAYS. Commits.

    Queued emails are kept whatever their age: they are still owed.
    """
    cutoff = clock.now() - dt.timedelta(days=max(1, _setting("MAIL_RETENTION_DAYS")))
    result = db.session.execute(
        delete(OutgoingEmail)
        .where(
            or_(
                and_(OutgoingEmail.status == EmailStatus.SENT, OutgoingEmail.sent_at < cutoff),
                and_(OutgoingEmail.status == EmailStatus.FAILED, OutgoingEmail.failed_at < cutoff),
            )
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def worker_name(prefix: str = "") -> str:
    """host:pid (and thread, for in-process delivery): unique among live workers."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    return f"{prefix}{name}:{threading.get_ident()}" if prefix else name
