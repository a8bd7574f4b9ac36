"""Outgoing email: composed inside a unit of work, sent over SMTP only once it commits.

A receipt must never go out for a payment that was rolled back, and a slow mail server must
never hold a database transaction open; so messages wait on the session and are handed to
SMTP after the commit. With no MAIL_SERVER set (the development default) messages are
written as .eml files under instance/outbox instead, so the demo shows what would be sent.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal import clock
from portal.db import db

log = logging.getLogger(__name__)
_PENDING = "portal.outgoing_mail"


def compose(*, to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    """Build a text email with an optional HTML alternative, from the configured sender."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(clock.now().timestamp(), localtime=False)
    message["Message-ID"] = make_msgid(domain="matterpay.invalid")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send_after_commit(message: EmailMessage) -> None:
    """Queue `message` on the current session; it is sent when the session commits."""
    db.session.info.setdefault(_PENDING, []).append(message)


def deliver(message: EmailMessage) -> None:
    """Send one message now through SMTP, or into instance/outbox when no server is set."""
    config = current_app.config
    server = config["MAIL_SERVER"]
    if not server:
        outbox = Path(current_app.instance_path) / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("@", "_")
        (outbox / f"{name}.eml").write_bytes(bytes(message))
        return
    with smtplib.SMTP(server, int(config["MAIL_PORT"]), timeout=10) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(message)


def _send_pending(session: Session) -> None:
    for message in session.info.pop(_PENDING, []):
        try:
            deliver(message)
        except (OSError, smtplib.SMTPException):
            # The payment stands whatever the mail server says; say what failed, not to whom.
            log.exception("could not send email %r", message["Subject"])


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def init_app(app: Flask) -> None:
    """Hook sending to every session's commit (once per process, whatever the app count)."""
    if not event.contains(Session, "after_commit", _send_pending):
        event.listen(Session, "after_commit", _send_pending)
        event.listen(Session, "after_rollback", _drop_pending)
