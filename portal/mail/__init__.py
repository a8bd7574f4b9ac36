"""Outgoing email through a durable outbox: written with the change it reports, sent by a worker.

`send_after_commit(message)` (alias `queue`) writes the message as an `OutgoingEmail` row in
the caller's transaction and sends nothing. The row commits exactly when the payment, request
or alert it reports does, so a rolled-back transaction sends nothing, and an email is never
lost because the mail server was down at the time.

A worker (`flask --app portal deliver-email`, or `deliver-webhooks`, which delivers email in the
same loop) sends due rows with `deliver_due`: it claims a batch under a lease in one short
transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite), commits, talks
to SMTP with no transaction open, then records each answer in one more transaction. 4xx
answers and connection errors are retried with bounded, jittered exponential backoff; a 5xx
answer to the message (sender, recipients, data) fails it at once with the server's words;
MAIL_MAX_ATTEMPTS attempts fail it too. A worker that dies mid-batch loses its lease and
another takes the rows again.

MAIL_DELIVER_AFTER_COMMIT (on in development and tests, never in production) also runs the
same delivery right after the commit that wrote the rows, so a developer without a worker,
and tests reading a loopback SMTP server, see the email at once. With no MAIL_SERVER set
(the development default) messages are written as .eml files under instance/outbox.

Features that care about an email's fate register an outcome handler per kind
(`on_outcome`): it runs in the worker's recording transaction when a row is sent or fails for
good, with the `ref` the feature gave when queueing.
"""

from __future__ import annotations

import copy
import logging
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses, make_msgid, parseaddr
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, SessionTransaction

from portal import clock
from portal.db import db
from portal.mail.delivery import (
    Outcome,
    deliver_due,
    on_outcome,
    purge_finished,
    sender_address,
    transport,
    worker_name,
)
from portal.mail.models import EmailStatus, OutgoingEmail
from portal.text import first_line, one_line

__all__ = [
    "EmailStatus",
    "Outcome",
    "OutgoingEmail",
    "compose",
    "deliver",
    "deliver_due",
    "latest_for",
    "on_outcome",
    "portal_name",
    "purge_finished",
    "queue",
    "send_after_commit",
]

log = logging.getLogger(__name__)

#: Rows written in the session's current transaction, not yet committed.
_QUEUED = "portal.mail.queued"
#: Ids of rows committed and not yet handed to the after-commit delivery.
_DUE = "portal.mail.due"
_DELIVERING = "portal.mail.delivering"


# -- writing ----------------------------------------------------------------------------------


def compose(
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    sender_name: str | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    """Build a text email with an optional HTML alternative, from the configured sender.

    `sender_name` replaces the display name of MAIL_FROM (the address stays MAIL_FROM's, so
    the portal's domain signs the mail); `reply_to`, when given, is where answers go.

    Whatever the texts hold, the headers stay what they are: the subject (which carries the
    firm's name) is put on one line, and the addresses are rebuilt from their parts, so no line
    break or control character in a name can end a header or start another, and nothing the
    firm typed can stop a receipt once the payment is taken.
    """
    message = EmailMessage()
    message["From"] = mailbox(current_app.config["MAIL_FROM"], sender_name)
    message["To"] = mailbox(to)
    if reply_to and "@" in (reply := mailbox(reply_to)):
        message["Reply-To"] = reply
    message["Subject"] = one_line(subject)
    message["Date"] = formatdate(clock.now().timestamp(), localtime=False)
    message["Message-ID"] = make_msgid(domain="matterpay.invalid")
    message.set_content(_encodable(text))
    if html:
        message.add_alternative(_encodable(html), subtype="html")
    return message


def portal_name() -> str:
    """The portal's name in emails: the display name of MAIL_FROM, else "MatterPay"."""
    display, _address = parseaddr(first_line(str(current_app.config["MAIL_FROM"])))
    return one_line(display) or "MatterPay"


def mailbox(text: str, name: str | None = None) -> str:
    """An address header's value ("Name <addr>" or "addr") rebuilt from its parts: only what
    comes before a line break or control character counts, and the display name (`name`,
    else the one in `text`) is put on one line and quoted or encoded by `formataddr`."""
    text = first_line(text)
    display, address = parseaddr(text)
    if not address:
        return text
    display = one_line(name if name is not None else display)
    if not display:
        return address
    try:
        return formataddr((display, address))
    except UnicodeError:  # a non-ASCII address: SMTP decides; the name is only decoration
        return address


def _encodable(text: str) -> str:
    """`text` with any lone surrogate replaced: UTF-8 cannot carry one."""
    return text.encode("utf-8", "replace").decode("utf-8")


def envelope_recipients(message: EmailMessage) -> list[str]:
    """The addresses the message goes to (To, Cc and Bcc), each once, in order."""
    fields = [value for name in ("To", "Cc", "Bcc") for value in message.get_all(name, []) or []]
    seen: dict[str, None] = {}
    for _name, address in getaddresses([str(value) for value in fields]):
        if address and "@" in address:
            seen.setdefault(address, None)
    return list(seen)


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over SMTP: CRLF line ends, Bcc left out."""
    if message["Bcc"] is not None:
        message = copy.copy(message)
        del message["Bcc"]
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def queue(message: EmailMessage, *, kind: str = "email", ref: str | None = None) -> OutgoingEmail:
    """Write `message` to the outbox in the current transaction (no commit); returns the row.

    Nothing is sent unless the transaction commits. `kind` says what the email is for
    ("receipt", "link"...); `ref` is the caller's reference for the record it is about, handed
    back to the kind's outcome handler (see `on_outcome`) and used by `latest_for`.
    The row gets its id at the next flush.
    """
    recipients = envelope_recipients(message)
    if not recipients:
        raise ValueError("an email needs at least one recipient address")
    now = clock.now()
    row = OutgoingEmail(
        kind=kind[:40],
        ref=ref,
        recipients="\n".join(recipients),
        message=wire_bytes(message),
        status=EmailStatus.QUEUED,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(row)
    db.session.info.setdefault(_QUEUED, []).append(row)
    return row


def send_after_commit(
    message: EmailMessage, *, kind: str = "email", ref: str | None = None
) -> OutgoingEmail:
    """Queue `message` in the outbox with the current transaction (see `queue`)."""
    return queue(message, kind=kind, ref=ref)


def latest_for(kind: str, ref: str) -> OutgoingEmail | None:
    """The newest email queued for the record `ref` of `kind` (its status, error, sent_at)."""
    return db.session.scalars(
        select(OutgoingEmail)
        .where(OutgoingEmail.kind == kind, OutgoingEmail.ref == ref)
        .order_by(OutgoingEmail.id.desc())
        .limit(1)
    ).first()


def deliver(message: EmailMessage) -> None:
    """Send one message NOW, inside the caller (no outbox, no retry); raises what SMTP raises.

    Only for callers that still record the answer themselves (links/sending.py until it
    queues through the outbox): everything else uses `send_after_commit`.
    """
    way_out = transport()
    try:
        way_out.send(sender_address(), envelope_recipients(message), wire_bytes(message))
    finally:
        way_out.close()


# -- delivery right after the commit (development and tests) ----------------------------------


def delivers_after_commit(config: Any) -> bool:
    """MAIL_DELIVER_AFTER_COMMIT: "auto" is on in development and testing, off in production."""
    value = str(config.get("MAIL_DELIVER_AFTER_COMMIT", "auto")).strip().lower()
    if value == "auto":
        return config.get("ENV") != "production"
    return value in {"1", "true", "yes", "on"}


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the rows are not committed yet
    queued = session.info.pop(_QUEUED, None)
    if queued:
        due = session.info.setdefault(_DUE, [])
        # By identity, not attribute: a savepoint rolled back on the way may have expired them.
        identities = [inspect(row).identity for row in queued]
        due += [identity[0] for identity in identities if identity]


def _after_soft_rollback(session: Session, _previous: SessionTransaction) -> None:
    # Rows added inside what was rolled back have left the session; the others still stand.
    queued = session.info.get(_QUEUED)
    if queued:
        session.info[_QUEUED] = [row for row in queued if row in session]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    # A committed transaction's rows moved to _DUE in after_commit; any left were not committed
    # (rolled back, or the session closed).
    session.info.pop(_QUEUED, None)
    if session.info.get(_DELIVERING):
        return
    if not session.info.get(_DUE):
        return
    if not has_app_context() or not delivers_after_commit(current_app.config):
        session.info.pop(_DUE, None)  # the worker sends them
        return
    session.info[_DELIVERING] = True
    try:
        while ids := session.info.pop(_DUE, None):
            deliver_due(worker_name("inline:"), ids=ids)
    except Exception:
        # The rows are committed: the worker sends them later. Say what failed, not to whom.
        log.exception("could not deliver email right after the commit")
        session.rollback()
    finally:
        session.info.pop(_DELIVERING, None)


def init_app(app: Flask) -> None:
    """Track outbox rows per session (once per process, whatever the app count)."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
